"""
Real processes for fault tests: a Celery worker in a process of its own (so it can be killed
with SIGKILL, as the OOM killer or a deploy would) and a local SMTP server that can accept,
stall or call back while a message is being sent. Loopback only; everything stops by itself.
"""

import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    """What the local SMTP server has accepted, and how it behaves.

    `stall_greeting`: accept connections and never say hello (a stalled relay).
    `on_data`: called (with the sink) when a client starts sending a message, before the message
    is accepted: a test kills the sending worker there."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list = field(default_factory=list)
    stall_greeting: bool = False
    on_data: object = None
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subjects(self) -> list[str]:
        with self.lock:
            return [m["Subject"] for m in self.messages]

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


class _SmtpHandler(socketserver.StreamRequestHandler):
    timeout = 30

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())
        self.wfile.flush()

    def handle(self):
        sink: SmtpSink = self.server.sink
        if sink.stall_greeting:
            sink.release.wait(timeout=60)
            return
        self.reply("220 localhost fake SMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                if sink.on_data is not None:
                    sink.on_data(sink)
                self.reply("354 go ahead")
                self._read_message(sink)
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")

    def _read_message(self, sink: SmtpSink) -> None:
        lines = []
        while True:
            line = self.rfile.readline()
            if not line:
                return  # the sender died mid-message: nothing was accepted
            if line in (b".\r\n", b".\n"):
                break
            lines.append(line[1:] if line.startswith(b"..") else line)
        with sink.lock:
            sink.messages.append(message_from_bytes(b"".join(lines)))
        self.reply("250 queued")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_smtp(sink: SmtpSink):
    """Serve `sink` on loopback in a thread; returns a function that stops it."""
    server = _SmtpServer((sink.host, 0), _SmtpHandler)
    server.sink = sink
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def stop():
        sink.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


# --- A Celery worker process --------------------------------------------------------------------


def service_env(**extra: str) -> dict:
    """The environment of a process that works on this test's database, cache and broker:
    the test database (not the configured one), this test's cache key space, and no provider
    settings from the shell or a `.env` (only what `extra` gives)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    return {
        **keep,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.tests.fault_worker_settings",
        "READ_DOTENV": "false",
        "DEBUG": "true",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET,
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@dataclass
class WorkerProcess:
    """`celery -A config worker` in a process group of its own (solo pool: one process, so a
    SIGKILL takes the task with it, as on a real crash)."""

    env: dict
    queues: str = "celery,notifications"
    log: Path | None = None
    process: subprocess.Popen | None = None
    started: int = 0

    def start(self) -> "WorkerProcess":
        self.started += 1
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-P",
                "solo",
                "-Q",
                self.queues,
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"fault-{os.getpid()}-{self.started}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def kill(self) -> None:
        """SIGKILL, as the OOM killer does: no shutdown, no acknowledgement."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(check, seconds: float = 30.0, every: float = 0.1):
    """Poll until `check()` is truthy (returns it) or the time is up (returns None)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    return None
