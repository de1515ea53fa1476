"""Helpers for tests that fire real concurrent HTTP requests at pytest-django's live server."""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def post_json(url: str, body: bytes | dict, headers: dict | None = None) -> tuple[int, dict]:
    """POST a JSON body (raw bytes are sent as they are); return (status, decoded answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def storm(requests: list[tuple]) -> list[tuple[int, dict]]:
    """Send all requests at once: each thread waits at a barrier, then posts. Each request is
    (url, body) or (url, body, headers); answers come back in the same order."""
    barrier = threading.Barrier(len(requests))

    def send(args):
        barrier.wait()
        return post_json(*args)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))
