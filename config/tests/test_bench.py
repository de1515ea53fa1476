"""The bench's own plumbing: it must find its database next to any DATABASE_URL, including
the embedded PostgreSQL's unix-socket URL that `make bench` provides on a fresh machine."""

import pytest

from bench.__main__ import bench_database_url, environ_name, psycopg_conninfo


@pytest.mark.parametrize(
    ("url", "conninfo"),
    [
        (
            "postgres://postgres@127.0.0.1:5432/postgres",
            "dbname='postgres_bench' user='postgres' host='127.0.0.1' port='5432'",
        ),
        (
            "postgres://postgres@//tmp/x/.data/postgres/hibachi",
            "dbname='hibachi_bench' user='postgres' host='/tmp/x/.data/postgres'",
        ),
        (
            "postgres://u:p@db.example.com/app",
            "dbname='app_bench' user='u' password='p' host='db.example.com'",
        ),
    ],
)
def test_the_bench_database_sits_next_to_the_configured_one(url, conninfo):
    bench_url = bench_database_url(url)
    assert psycopg_conninfo(bench_url) == conninfo
    assert environ_name(bench_url) == conninfo.split("'")[1]
