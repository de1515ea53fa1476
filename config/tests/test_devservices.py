"""`make run`'s plan (config/devservices.py)."""

import subprocess
import time

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
