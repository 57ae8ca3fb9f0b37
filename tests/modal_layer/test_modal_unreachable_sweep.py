"""The minute sweep alone ends a call Modal answers `ServiceError` about for good.

`reconcile_leases` builds a new `ModalBackend` every tick. When the first unanswered poll
of a call was remembered only on the backend object, every tick started the grace afresh:
UNREACHABLE_GRACE_S never elapsed, so a job whose call answers ServiceError on every
poll (its own body raised one; Modal re-raises it as its type) and that nobody else polls
stayed in flight forever and held its admission slot: the kind shrank by one per such
job. The first unanswered poll is now marked in the jobs Dict, shared by every API
container and every tick.

On the fake primitives with a hand-moved clock; the error is injected into the call lookup.
"""

from __future__ import annotations

import pytest
from modal.exception import ServiceError

from modal_support import diagnostic_config
from modal_functions.contract.jobs import JobStatus
from modal_functions.modal_layer.backend import UNREACHABLE_GRACE_S, ModalBackend
from modal_functions.modal_layer.fake_primitives import fake_backend
from modal_functions.runtime.capacity import CapacityFull

LONG = {"action": "sleep", "seconds": 30, "steps": 2}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Unreachable:
    def get(self, timeout=None):
        raise ServiceError("Service temporarily unavailable")

    def cancel(self, terminate_containers=False):
        pass


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def backend(tmp_path, clock):
    b = fake_backend(tmp_path / "modal", diagnostic_config(max_containers=1), clock=clock)
    yield b
    b.close()


def tick(backend, clock):
    """One `reconcile_leases` tick: a fresh backend on the same app, then its sweep."""
    return ModalBackend(backend.config, backend.p, clock=clock).sweep("diagnostic")


def test_the_minute_sweep_alone_ends_a_call_modal_never_answers(backend, clock, monkeypatch):
    job = backend.submit("diagnostic", LONG)
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable())

    assert tick(backend, clock) == 1  # the first unanswered poll: still in flight
    for _ in range(int(UNREACHABLE_GRACE_S // 60)):
        clock.now += 60
        tick(backend, clock)
    clock.now += 60
    assert tick(backend, clock) == 0  # past the grace, counted from the first tick

    ended = backend.poll(job.id)
    assert ended.status == JobStatus.failed and ended.error.retryable and "ServiceError" in ended.error.message
    assert backend._in_flight("diagnostic") == []


def test_polls_spread_over_api_containers_share_the_grace(backend, clock, monkeypatch):
    job = backend.submit("diagnostic", LONG)
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable())
    other = ModalBackend(backend.config, backend.p, clock=clock)  # a second API container

    containers = [backend, other]
    for i in range(int(UNREACHABLE_GRACE_S // 60) + 1):  # the worker's polls land on either container
        assert not containers[i % 2].poll(job.id).status.terminal
        clock.now += 60
    ended = containers[i % 2].poll(job.id)  # asked again by the one that did not ask last
    assert ended.status == JobStatus.failed and ended.error.retryable


def test_a_mark_left_by_an_earlier_outage_does_not_count_against_a_new_one(backend, clock, monkeypatch):
    """The sweep that saw the first outage is gone (a new backend each tick), so it never
    clears its mark; Modal answered in between, so a blip much later starts its own grace."""
    job = backend.submit("diagnostic", LONG)
    real_lookup = backend.p.function_call
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable())
    tick(backend, clock)
    monkeypatch.setattr(backend.p, "function_call", real_lookup)
    clock.now += 2 * UNREACHABLE_GRACE_S
    assert tick(backend, clock) == 1  # Modal answers: still running
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable())
    assert tick(backend, clock) == 1  # a new outage, not one that began at the first tick
    assert not ModalBackend(backend.config, backend.p, clock=clock).poll(job.id).status.terminal


def test_a_full_kind_stays_full_within_the_grace(backend, clock, monkeypatch):
    backend.submit("diagnostic", LONG)
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable())
    tick(backend, clock)
    clock.now += UNREACHABLE_GRACE_S / 2
    with pytest.raises(CapacityFull):
        backend.submit("diagnostic", LONG)


def test_a_container_s_own_memory_of_an_earlier_outage_lapses_too(backend, clock, monkeypatch):
    """A long-lived API container saw one unanswered poll; Modal answered since, but through
    another container. Its own record of the outage lapses as the Dict's does, so one blip
    much later is not 'unanswered for over 300 s' (it failed a running job at once)."""
    job = backend.submit("diagnostic", LONG)
    real_lookup = backend.p.function_call
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable())
    assert not backend.poll(job.id).status.terminal  # container A: one blip
    monkeypatch.setattr(backend.p, "function_call", real_lookup)
    clock.now += 1000
    assert not ModalBackend(backend.config, backend.p, clock=clock).poll(job.id).status.terminal  # B: answered
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable())
    assert not backend.poll(job.id).status.terminal  # A again: a new outage, not one 1000 s old


def test_a_call_given_up_on_as_unanswered_is_cancelled(backend, clock, monkeypatch):
    """Failed past the grace while its call may still run: the call is stopped (it would bill
    on, and the freed slot let one job more than max_containers run)."""
    cancelled = []

    class UnreachableRecorded(Unreachable):
        def cancel(self, terminate_containers=False):
            cancelled.append(terminate_containers)

    job = backend.submit("diagnostic", LONG)
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: UnreachableRecorded())
    for _ in range(int(UNREACHABLE_GRACE_S // 60) + 1):
        assert not backend.poll(job.id).status.terminal
        assert not cancelled
        clock.now += 60
    assert backend.poll(job.id).status == JobStatus.failed
    assert cancelled, "the call was not cancelled"
