"""A job that succeeded stays succeeded when its last progress write fails.

`runner.execute` sends the progress update throttling held back once the body returns.
That write sat outside the attempt's error handling: a failed `modal.Dict` write there
(Modal unreachable for a moment) left `execute` with the raw error, so Modal retried a
finished job (running it twice) or, with no retries left, the backend reported the
finished job as failed `internal`. The result is what counts; the write is best effort.

The real runner and watchdog; the capability and the jobs Dict are stood in for.
"""

from __future__ import annotations

import pytest

from modal_support import StepsResult, fake_diagnostic
from modal_functions.config import default_path, load_config
from modal_functions.modal_layer import runner


class FlakyJobsDict(dict):
    """A jobs Dict whose progress writes fail once `failing` is set."""

    failing = False

    def __setitem__(self, key, value):
        if self.failing and str(key).startswith("progress:"):
            raise ConnectionError("modal.Dict write failed")
        super().__setitem__(key, value)


@pytest.fixture
def jobs(monkeypatch):
    jobs = FlakyJobsDict()

    def run(state, request, ctx):
        for i in range(request.steps):
            ctx.progress(i + 1, request.steps + 1, "steps")  # all but the first held back by throttling
        jobs.failing = True  # Modal's Dict goes away just as the body returns
        return StepsResult(steps=request.steps)

    fake_diagnostic(monkeypatch, run)
    yield jobs
    runner._STATES.pop("diagnostic", None)


def test_a_failed_last_progress_write_does_not_fail_a_finished_job(jobs):
    cfg = load_config(default_path())
    out = runner.execute({"job_id": "p1", "kind": "diagnostic", "input": {"steps": 3}}, jobs, resource="cpu:0.25",
                         state=object(), cold_start=False, config=cfg, min_interval=3600)
    assert out["ok"] is True and out["result"] == {"steps": 3}
    assert jobs["progress:p1"]["progress"]["done"] == 1  # what got through before the Dict failed
