"""A job's progress never steps back when Modal runs it again (runner.execute's progress sink).

A retryable failure with attempts left is raised for Modal's retry policy, and the next
attempt counts up from zero: its first progress overwrote `progress:<id>`, so a client polling
the job saw its bar jump back (60% -> 10%). As in-house (`InHouseBackend.on_progress`), the
job's progress holds at the high-water mark of its earlier attempts until the retry passes it;
its heartbeats still reach the Dict meanwhile (what a poll shows as the job's last sign of life).

The real runner, watchdog and sink; the capability and the jobs Dict are stood in for.
"""

from __future__ import annotations

import pytest

from modal_support import StepsResult, diagnostic_config, run_attempt
from modal_functions.contract.jobs import Progress
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer import runner
from modal_functions.runtime.progress import read_mapping

HALF_WAY = Progress(done=6, total=10, unit="steps", message="step 6/10")



def attempt(jobs, config):
    return run_attempt(jobs, config, "p1", 10)


def shown(jobs):
    return read_mapping(jobs, runner.progress_key("p1"))


def fails_half_way(ctx):
    ctx.progress(6, 10, "steps", "step 6/10")
    raise CapabilityError("transient", "a blip half way", retryable=True)


def test_a_retried_attempt_holds_the_progress_until_it_passes_the_earlier_mark(scripted_diagnostic):
    jobs: dict = {}
    config = diagnostic_config(retries=1)
    seen: list = []

    def retry(ctx):
        ctx.progress(1, 10, "steps", "step 1/10")
        seen.append(shown(jobs)[0])
        jobs[runner.progress_key("p1")] = {**jobs[runner.progress_key("p1")], "heartbeat_at": 0.0}
        ctx.heartbeat()
        seen.append(shown(jobs))
        ctx.progress(7, 10, message="step 7/10")
        seen.append(shown(jobs)[0])
        return StepsResult(steps=10)

    scripted_diagnostic["run"] = fails_half_way
    with pytest.raises(CapabilityError):  # raised for Modal's retry policy
        attempt(jobs, config)
    assert shown(jobs)[0] == HALF_WAY

    scripted_diagnostic["run"] = retry
    out = attempt(jobs, config)
    assert out["ok"] and out["attempt"] == 2
    held, (after_beat, beat), passed = seen
    assert held == HALF_WAY  # 1/10 of the retry: the bar stays at 6/10
    assert after_beat == HALF_WAY and beat > 0.0  # the heartbeat still lands (the job is alive)
    assert passed == Progress(done=7, total=10, unit="steps", message="step 7/10")  # past the mark: its own


def test_a_mark_without_a_total_is_passed_by_the_count_done(scripted_diagnostic):
    jobs: dict = {}
    config = diagnostic_config(retries=1)
    seen: list = []

    def counts(ctx):
        ctx.progress(5, unit="items")
        raise CapabilityError("transient", "a blip", retryable=True)

    def retry(ctx):
        ctx.progress(2, unit="items")
        seen.append(shown(jobs)[0].done)
        ctx.progress(5, unit="items")
        seen.append(shown(jobs)[0].done)
        return StepsResult(steps=5)

    scripted_diagnostic["run"] = counts
    with pytest.raises(CapabilityError):
        attempt(jobs, config)
    scripted_diagnostic["run"] = retry
    assert attempt(jobs, config)["ok"]
    assert seen == [5, 5]


def test_a_first_attempt_shows_its_progress_as_it_comes(scripted_diagnostic):
    """The hold is for an earlier attempt's mark only (a progress entry left by a hand-off's probe is not one)."""
    jobs: dict = {runner.progress_key("p1"): {"progress": HALF_WAY.model_dump(mode="json"), "heartbeat_at": 1.0}}
    seen: list = []

    def run(ctx):
        ctx.progress(1, 10, "steps")
        seen.append(shown(jobs)[0].done)
        return StepsResult(steps=10)

    scripted_diagnostic["run"] = run
    assert attempt(jobs, diagnostic_config())["ok"]
    assert seen == [1]


class UnreadableProgress(dict):
    """A jobs Dict whose progress entry cannot be read (Modal's Dict unreachable for a moment)."""

    def get(self, key, default=None):
        if str(key).startswith("progress:"):
            raise ConnectionError("modal.Dict read failed")
        return super().get(key, default)


def test_a_mark_that_cannot_be_read_does_not_fail_the_retry(scripted_diagnostic):
    jobs = UnreadableProgress()
    config = diagnostic_config(retries=1)
    scripted_diagnostic["run"] = fails_half_way
    with pytest.raises(CapabilityError):
        attempt(jobs, config)
    scripted_diagnostic["run"] = lambda ctx: StepsResult(steps=10)
    out = attempt(jobs, config)
    assert out["ok"] and out["attempt"] == 2
