"""`make run`'s plan (config/devservices.py)."""

import subprocess
import time
from types import SimpleNamespace

from config import devservices


def test_run_plan_makes_the_folder_beat_keeps_its_schedule_in(tmp_path, monkeypatch):
    schedule = tmp_path / "fresh-checkout" / ".data" / "celerybeat-schedule"
    monkeypatch.setattr(devservices, "BEAT_SCHEDULE", schedule)

    setup, services = devservices.run_plan("8000")

    assert [name for name, _ in setup] == ["migrate", "seed"]
    beat = dict(services)["beat"]
    assert beat[beat.index("--schedule") + 1] == str(schedule)
    assert schedule.parent.is_dir()


def test_the_run_worker_consumes_the_default_and_the_notifications_queue():
    _, services = devservices.run_plan("8000")
    worker = dict(services)["worker"]
    assert worker[worker.index("-Q") + 1].split(",") == ["celery", "notifications"]


def test_beat_starts_with_a_schedule_in_a_new_folder(tmp_path, monkeypatch):
    """With DATABASE_URL and REDIS_URL given there is no .data/ yet: beat must still start
    (it used to exit at once, which stopped all of `make run`)."""
    schedule = tmp_path / "new" / "celerybeat-schedule"
    monkeypatch.setattr(devservices, "BEAT_SCHEDULE", schedule)
    _, services = devservices.run_plan("8000")
    beat = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        dict(services)["beat"],
        cwd=devservices.REPO_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and beat.poll() is None:
            if any(schedule.parent.glob("celerybeat-schedule*")):
                break
            time.sleep(0.2)
        assert beat.poll() is None, f"beat exited with {beat.returncode}"
        assert any(schedule.parent.glob("celerybeat-schedule*"))
    finally:
        beat.terminate()
        beat.wait(timeout=30)


def test_the_public_base_url_follows_the_port_when_it_is_not_set(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    assert devservices.dev_environment()["PUBLIC_BASE_URL"] == "http://127.0.0.1:8123"


def test_the_public_base_url_defaults_to_the_default_port(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "")  # empty is not set
    assert devservices.dev_environment()["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"


def test_an_explicit_public_base_url_wins_over_the_port(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://ops.example.com")
    assert devservices.dev_environment()["PUBLIC_BASE_URL"] == "https://ops.example.com"


def test_the_web_process_and_workers_get_the_public_base_url(monkeypatch, tmp_path):
    """command_run hands the same environment to every child: web, worker and beat."""
    monkeypatch.setattr(devservices, "BEAT_SCHEDULE", tmp_path / "celerybeat-schedule")
    monkeypatch.setattr(devservices, "StopRequest", lambda: SimpleNamespace(requested=False))
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://example.invalid/db")
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6379/0")
    started = {}

    def fake_step(name, argv, env, stop):
        started[name] = env
        return 0

    def fake_start(services, env):
        for name, _ in services:
            started[name] = env
        return []

    monkeypatch.setattr(devservices, "run_step", fake_step)
    monkeypatch.setattr(devservices, "start_services", fake_start)
    monkeypatch.setattr(devservices, "supervise", lambda children, stop: 0)
    assert devservices.command_run() == 0
    assert set(started) == {"migrate", "seed", "web", "worker", "beat"}
    assert {env["PUBLIC_BASE_URL"] for env in started.values()} == {"http://127.0.0.1:8123"}
