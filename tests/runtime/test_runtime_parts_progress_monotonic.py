"""`fan_out`'s job progress never steps back when a piece is retried (runtime/parts.py).

A retried piece counts up from zero again; the job's total holds at what that piece had
reached until the retry passes it, for every capability using `fan_out`, not only render."""

from __future__ import annotations

from modal_functions.errors import CapabilityError
from modal_functions.runtime.parts import PartStatus, fan_out


def non_decreasing(values: list[float]) -> bool:
    return all(b >= a for a, b in zip(values, values[1:]))


def test_a_piece_retried_here_does_not_take_progress_back():
    seen: list[float] = []
    attempts = {"n": 0}

    def run_here(index, spec, report):
        attempts["n"] += 1
        if attempts["n"] == 1:
            report(0.5)
            raise CapabilityError("render_failed", "first try fails half way", retryable=True)
        for value in (0.2, 0.5, 0.7, 1.0):
            report(value)
        return {"index": index}

    assert fan_out(None, [{}], run_here, on_progress=seen.append) == [{"index": 0}]
    assert attempts["n"] == 2
    assert non_decreasing(seen), seen
    assert seen[-1] == 1.0
    assert 0.7 in seen  # the retry counts again once it passes what the first try reached


class _FailsAfterProgress:
    """A PartsClient stand-in: its one part reaches `done=3` on another worker, then fails there."""

    def __init__(self):
        self.listener = None
        self.asked = 0

    def listen(self, listener):
        self.listener = listener

    def submit(self, specs):
        return ["part-1"]

    def status(self, part_id):
        self.asked += 1
        if self.asked == 1:
            self.listener("part-1", PartStatus(state="running", done=3.0))
            return PartStatus(state="running", done=3.0)
        return PartStatus(state="failed", done=3.0, error={"code": "render_failed", "message": "boom"})

    def take(self, part_id):
        return False

    def wait(self, timeout):
        pass


def test_a_part_that_failed_elsewhere_and_reruns_here_does_not_take_progress_back():
    seen: list[float] = []

    def run_here(index, spec, report):
        for value in range(1, 5):
            report(float(value))
        return {"index": index}

    parts = _FailsAfterProgress()
    # piece 0 runs here first (4 units), while the part has reported 3 units from elsewhere
    results = fan_out(parts, [{}, {}], run_here, on_progress=seen.append)
    assert results == [{"index": 0}, {"index": 1}]
    assert non_decreasing(seen), seen
    assert seen[-1] == 8.0
