"""Same-key submits racing one whose spawn failed: never a 404 or a 409 for a good POST.

A submit whose spawn fails undoes itself. The undo popped the job record first and the
idempotency entry last: in between, the entry named a job that no longer existed, and a
same-key POST (the caller's retry, landing on another API container) answered 404
`not_found`. If the undo stopped there (the container gone), that lasted until Modal
expired the entry, while a lookup by the key said none (so a POST would make a job). The
entry now goes first, and a record left behind is settled `interrupted` after the spawn
grace like any lost submit.

And a submit whose claim of the key was refused, because the failing one held it, read
the entry after it was undone and answered 409 `idempotency_conflict` (the key "used with
a different request"): the key is free then, and is claimed again.

On the fake primitives; each interleaving is forced by a one-shot hook in the fake's
Dict, never by sleeps.
"""

from __future__ import annotations

import pytest

from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import idem_key, job_key
from modal_support import diagnostic_config
from modal_functions.modal_layer.fake_primitives import FakeDict, fake_backend

LONG = {"action": "sleep", "seconds": 30, "steps": 2}  # stays in flight until cancelled


@pytest.fixture
def backend(tmp_path):
    b = fake_backend(tmp_path / "modal", diagnostic_config(max_containers=2))
    yield b
    b.close()


def spawn_fails_once(backend):
    fn = backend.p.function("diagnostic")
    real_spawn = fn.spawn

    def once(*args):
        fn.spawn = real_spawn
        raise ConnectionError("Modal refused the spawn")

    fn.spawn = once


def test_a_same_key_submit_during_the_undo_makes_its_job_not_a_404(backend, monkeypatch):
    spawn_fails_once(backend)
    real_pop = FakeDict.pop
    retried = []

    def retry_lands_mid_undo(self, key, *default):
        value = real_pop(self, key, *default)
        if not retried and str(key).startswith(("job:", "idem:")):  # the first thing the failed submit undoes
            try:
                retried.append(backend.submit("diagnostic", LONG, idempotency_key="K"))
            except CapabilityError as e:
                retried.append(e)
        return value

    monkeypatch.setattr(FakeDict, "pop", retry_lands_mid_undo)
    with pytest.raises(CapabilityError) as failed:
        backend.submit("diagnostic", LONG, idempotency_key="K")
    monkeypatch.setattr(FakeDict, "pop", real_pop)

    assert failed.value.code == "modal_unavailable" and failed.value.retryable
    (second,) = retried
    assert not isinstance(second, CapabilityError), f"the retried POST was answered {second.code}: {second.message}"
    assert second.status == JobStatus.queued
    assert backend.find_by_idempotency_key("K").id == second.id
    assert backend._in_flight("diagnostic") == [second.id]
    backend.cancel(second.id)


def test_the_undo_stopped_after_popping_the_record_leaves_no_404_key(backend, monkeypatch):
    """The old order's window, held open: the record popped, the container gone before the entry."""
    spawn_fails_once(backend)
    real_pop = FakeDict.pop

    class ContainerDied(BaseException):
        pass

    def container_dies_after_the_first_undo_pop(self, key, *default):
        value = real_pop(self, key, *default)
        if str(key).startswith(("job:", "idem:")):
            raise ContainerDied()
        return value

    monkeypatch.setattr(FakeDict, "pop", container_dies_after_the_first_undo_pop)
    with pytest.raises(ContainerDied):
        backend.submit("diagnostic", LONG, idempotency_key="K")
    monkeypatch.setattr(FakeDict, "pop", real_pop)

    entry = backend.p.jobs.get(idem_key("K"))
    assert entry is None or backend.p.jobs.get(job_key(entry["job_id"])) is not None, "the key points at a job that is gone"
    job = backend.submit("diagnostic", LONG, idempotency_key="K")  # a POST with the key is never a 404
    assert job.status == JobStatus.queued
    backend.cancel(job.id)


def test_a_key_claim_lost_to_a_submit_that_then_undid_itself_claims_again(backend, monkeypatch):
    """Our claim of the key fails because another container holds it, and that one undoes its
    failed spawn before we read its entry: the key is free, not used with another request."""
    real_put = FakeDict.put
    raced = []

    def another_submit_claims_then_undoes(self, key, value, *, skip_if_exists=False):
        if not raced and skip_if_exists and str(key) == idem_key("K"):
            raced.append(key)
            real_put(self, key, {**value, "job_id": "other-container-job"})  # its claim lands first
            ours = real_put(self, key, value, skip_if_exists=True)  # so ours is refused
            FakeDict.pop(self, key, None)  # and its spawn failed: it undoes the claim
            return ours
        return real_put(self, key, value, skip_if_exists=skip_if_exists)

    monkeypatch.setattr(FakeDict, "put", another_submit_claims_then_undoes)
    job = backend.submit("diagnostic", LONG, idempotency_key="K")
    monkeypatch.setattr(FakeDict, "put", real_put)

    assert raced
    assert job.status == JobStatus.queued
    assert backend.find_by_idempotency_key("K").id == job.id
    assert backend._in_flight("diagnostic") == [job.id]
    backend.cancel(job.id)


def test_a_winner_that_undid_itself_after_we_read_its_key_is_not_a_404(backend, monkeypatch):
    """B reads A's key entry; A then finishes its undo (key, then record); B's replay of A found
    no record and answered 404. B asks for the key again and makes its job."""
    real_get = FakeDict.get
    undone = []

    def read_then_undo(self, key, *default):
        value = real_get(self, key, *default)
        if not undone and key == idem_key("K") and value is not None and value["job_id"] == "ghost":
            undone.append(key)
            FakeDict.pop(self, key, None)  # A's undo lands right after our read
        return value

    monkeypatch.setattr(FakeDict, "get", read_then_undo)
    from modal_functions.modal_layer.backend import _fingerprint

    backend.p.jobs[idem_key("K")] = {"job_id": "ghost", "fingerprint": _fingerprint("diagnostic", LONG)}
    job = backend.submit("diagnostic", LONG, idempotency_key="K")
    monkeypatch.setattr(FakeDict, "get", real_get)
    assert job.status == JobStatus.queued and job.id != "ghost"
    assert backend.find_by_idempotency_key("K").id == job.id
    backend.cancel(job.id)
