"""
Real processes for the notification tests: an SMTP server on loopback that can misbehave, and
a Celery worker started as its own process (so it can be killed with SIGKILL), on the test
database and the Redis broker.

SMTP behaviours, one per connection in the order given (then "accept"):
  "no-greeting"  accepts the TCP connection and never sends the 220 greeting
  "stall-data"   takes the whole message after DATA and never answers it (not accepted)
  "accept"       a well-behaved relay: the message is accepted (250) and kept in `accepted`
"""

import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    """Poll until predicate() is truthy (bounded); returns its value, or None at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    return None


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class SMTPRelay:
    plan: list[str] = field(default_factory=list)
    accepted: list = field(default_factory=list)  # email.message.Message, in order
    unanswered: list = field(default_factory=list)  # messages taken but never acknowledged
    connections: list[dict] = field(default_factory=list)  # {"mode", "open", "data_taken"}
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def next_connection(self) -> dict:
        with self.lock:
            n = len(self.connections)
            mode = self.plan[n] if n < len(self.plan) else "accept"
            conn = {"mode": mode, "open": True, "data_taken": False}
            self.connections.append(conn)
            return conn

    def stalled_open(self) -> int:
        with self.lock:
            return sum(1 for c in self.connections if c["open"] and c["mode"] != "accept")


class _Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def handle(self):
        relay: SMTPRelay = self.server.relay
        conn = relay.next_connection()
        try:
            if conn["mode"] == "no-greeting":
                self._hold()
                return
            self._reply("220 localhost test relay")
            self._session(relay, conn)
        except OSError:
            pass
        finally:
            conn["open"] = False

    def _hold(self):
        """Keep the connection open, saying nothing, until the client gives up or we stop."""
        self.request.settimeout(0.1)
        while not self.server.relay.stopping.is_set():
            try:
                if self.request.recv(1024) == b"":
                    return  # the client closed it
            except TimeoutError:
                continue

    def _reply(self, line: str):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def _session(self, relay: SMTPRelay, conn: dict):
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 localhost")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 go ahead")
                message = self._read_data()
                conn["data_taken"] = True
                if conn["mode"] == "stall-data":
                    relay.unanswered.append(message)
                    self._hold()
                    return
                relay.accepted.append(message)
                self._reply("250 accepted")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")

    def _read_data(self):
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return message_from_bytes(b"".join(lines))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def smtp_relay(plan: list[str]):
    relay = SMTPRelay(plan=list(plan))
    server = _Server(("127.0.0.1", 0), _Handler)
    server.relay = relay
    relay.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.stopping.set()
        server.shutdown()
        server.server_close()


# --- Celery worker process ----------------------------------------------------------------------


def worker_database_url() -> str:
    conf = connection.settings_dict
    auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf.get("PASSWORD") else "")
    return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def purge(*queues: str) -> None:
    """Empty the broker queues a worker will consume (left over from an earlier run)."""
    with celery_app.connection_for_write() as conn:
        for queue in queues:
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: S112 - a queue that was never declared has nothing in it
                continue


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, the whole process group (a prefork pool's children too)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def celery_worker(
    *,
    smtp_port: int,
    queues: str = "celery,notifications",
    pool: str = "solo",
    concurrency: int = 1,
    email_timeout: float = 5.0,
    lease_seconds: float = 300.0,
):
    """A real `celery worker` process for this test's database, with e-mail through the relay
    on `smtp_port` (bookings/tests/worker_settings.py)."""
    log = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
    env = {
        # The suite's environment: pytest-env (pyproject.toml) has replaced every provider
        # variable of the shell with its safe default and switched `.env` off (READ_DOTENV).
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bookings.tests.worker_settings",
        "DATABASE_URL": worker_database_url(),
        "TEST_SMTP_PORT": str(smtp_port),
        "TEST_EMAIL_TIMEOUT": str(email_timeout),
        "TEST_NOTIFICATION_LEASE_SECONDS": str(lease_seconds),
    }
    argv = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info",
        "-Q", queues, "-P", pool, "-c", str(concurrency), "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(process, log)
    try:
        wait_for(lambda: "ready." in worker.output() or process.poll() is not None, 60)
        assert "ready." in worker.output(), f"worker did not start:\n{worker.output()}"
        assert process.poll() is None, f"worker stopped:\n{worker.output()}"
        yield worker
    finally:
        worker.stop()
        log.unlink(missing_ok=True)
