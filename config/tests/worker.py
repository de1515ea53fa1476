"""A real Celery worker in its own process (prefork, as deployed: only its pool enforces time
limits), on this test's database and Redis, consuming a queue of the test's own."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_tests() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def worker_process(*, include: str | None = None, **env_changes: str):
    """Yield (queue name, path of the worker's log) while a worker consumes that queue."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {
        # The suite's environment: pytest-env (pyproject.toml) has replaced every provider
        # variable of the shell with its safe default and switched `.env` off (READ_DOTENV).
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "CELERY_TASK_ALWAYS_EAGER": "false",
        **env_changes,
    }
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork"]
    argv += ["-c", "1", "-Q", queue, "-l", "info", "--without-heartbeat", "--without-mingle"]
    argv += ["--without-gossip"] + (["-I", include] if include else [])
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield queue, Path(log.name)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        Path(log.name).unlink(missing_ok=True)


def wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    return None
