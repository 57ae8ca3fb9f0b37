"""`ModalBackend` races between API containers (and submits that die half way), on the fake.

Each test forces its interleaving with events or a one-shot hook in the fake's Dict,
never with sleeps; time past the spawn grace comes from an injected clock.
"""

from __future__ import annotations

import threading

import pytest

from modal_functions.config import default_path, load_config
from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import SPAWN_GRACE_S, ModalBackend, active_key, idem_key, job_key
from modal_functions.modal_layer.fake_primitives import FakeDict, FakePrimitives, fake_backend

LONG = {"action": "sleep", "seconds": 30, "steps": 2}  # stays in flight until cancelled


def config(max_containers: int | None = None):
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    update = {"stall_timeout": 60.0, "retries": 0, "timeout": 60}
    if max_containers is not None:
        update["max_containers"] = max_containers
    functions["diagnostic"] = functions["diagnostic"].model_copy(update=update)
    return cfg.model_copy(update={"functions": functions})


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def backend(tmp_path, clock):
    b = fake_backend(tmp_path / "modal", config(), clock=clock)
    yield b
    b.close()


def only_call(backend):
    (call,) = backend.p._calls.values()
    return call


def assert_cancelled(call):
    from modal.exception import ExecutionError

    assert call.join(30)
    with pytest.raises(ExecutionError):
        call.get(timeout=0)


# ## 1. a submit failing (or dying) after its spawn


def test_a_dict_failure_after_the_spawn_undoes_the_submit_and_cancels_the_call(backend, monkeypatch):
    real_set = FakeDict.__setitem__

    def storing_the_call_id_fails(self, key, value):
        if isinstance(value, dict) and value.get("call_id"):
            raise ConnectionError("modal.Dict write failed")
        return real_set(self, key, value)

    monkeypatch.setattr(FakeDict, "__setitem__", storing_the_call_id_fails)
    with pytest.raises(CapabilityError) as failed:
        backend.submit("diagnostic", LONG, idempotency_key="k")
    monkeypatch.setattr(FakeDict, "__setitem__", real_set)

    assert failed.value.code == "modal_unavailable" and failed.value.retryable
    assert_cancelled(only_call(backend))  # nothing runs on untracked
    assert backend._in_flight("diagnostic") == [] and backend.p.jobs.get(idem_key("k")) is None
    again = backend.submit("diagnostic", LONG, idempotency_key="k")  # the retry makes a job
    assert backend.poll(again.id).status == JobStatus.queued
    backend.cancel(again.id)


class ContainerDied(BaseException):
    """The API container is killed: no `except Exception` cleanup runs."""


def test_a_submit_that_died_after_spawning_is_settled_and_frees_its_slot(tmp_path, clock):
    b = fake_backend(tmp_path / "modal", config(max_containers=1), clock=clock)
    try:
        fn = b.p.function("diagnostic")
        real_spawn = fn.spawn

        def spawn_then_die(*args):
            real_spawn(*args)
            raise ContainerDied()

        fn.spawn = spawn_then_die
        with pytest.raises(ContainerDied):
            b.submit("diagnostic", LONG, idempotency_key="k")
        fn.spawn = real_spawn
        lost = b.p.jobs[idem_key("k")]["job_id"]

        # within the grace the submit may still be under way: the job holds its slot
        assert b.poll(lost).status == JobStatus.queued
        with pytest.raises(CapabilityError) as full:
            b.submit("diagnostic", LONG)
        assert full.value.code == "capacity"

        clock.now += SPAWN_GRACE_S + 1
        assert b.sweep("diagnostic") == 0
        settled = b.poll(lost)
        assert settled.status == JobStatus.failed
        assert settled.error.code == "interrupted" and settled.error.retryable
        assert b.submit("diagnostic", {"action": "succeed"}).status == JobStatus.queued
    finally:
        b.close()


def test_a_slot_claimed_by_a_submit_that_died_before_its_record_is_freed_after_the_grace(backend, clock):
    backend.p.active.put(active_key("diagnostic", 0), {"job_id": "gone", "at": clock()}, skip_if_exists=True)
    assert backend.sweep("diagnostic") == 1  # maybe a submit still writing its record
    clock.now += SPAWN_GRACE_S + 1
    assert backend.sweep("diagnostic") == 0 and backend._in_flight("diagnostic") == []


def test_a_free_whose_pop_was_lost_is_repaired_by_the_sweep_after_the_grace(tmp_path, clock, monkeypatch):
    b = fake_backend(tmp_path / "modal", config(max_containers=1), clock=clock)
    try:
        job = b.submit("diagnostic", LONG)
        real_pop = FakeDict.pop
        failed: list[str] = []

        def first_slot_pop_fails(self, key, *default):
            if str(key).startswith("diagnostic:slot") and not failed:
                failed.append(key)
                raise ConnectionError("modal.Dict pop failed")
            return real_pop(self, key, *default)

        monkeypatch.setattr(FakeDict, "pop", first_slot_pop_fails)
        with pytest.raises(ConnectionError):
            b.cancel(job.id)  # the job is cancelled; freeing its slot fails half way
        monkeypatch.setattr(FakeDict, "pop", real_pop)
        assert failed and b._in_flight("diagnostic") == [job.id]
        b.sweep("diagnostic")  # a free just marked may be racing another: left alone
        assert b._in_flight("diagnostic") == [job.id]

        clock.now += SPAWN_GRACE_S + 1
        b.sweep("diagnostic")
        assert b._in_flight("diagnostic") == []
        assert b.submit("diagnostic", {"action": "succeed"}).status == JobStatus.queued
    finally:
        b.close()


# ## 2. a cancel while the submit is still spawning


def test_a_cancel_during_the_spawn_stands_and_cancels_the_call(backend):
    fn = backend.p.function("diagnostic")
    real_spawn = fn.spawn
    spawning, go = threading.Event(), threading.Event()

    def slow_spawn(*args):
        spawning.set()
        assert go.wait(30)
        return real_spawn(*args)

    fn.spawn = slow_spawn
    submitted = []
    t = threading.Thread(target=lambda: submitted.append(backend.submit("diagnostic", LONG, idempotency_key="K")))
    t.start()
    assert spawning.wait(30)
    replay = backend.submit("diagnostic", LONG, idempotency_key="K")  # the caller retries
    assert backend.cancel(replay.id).status == JobStatus.cancelled
    go.set()
    t.join(30)

    assert submitted[0].status == JobStatus.cancelled
    assert backend.poll(replay.id).status == JobStatus.cancelled
    assert_cancelled(only_call(backend))
    assert backend._in_flight("diagnostic") == []


def test_a_cancel_that_read_the_record_before_the_call_id_was_stored_still_wins(backend, monkeypatch):
    """Cancel reads the record (no call yet) and saves `cancelled`; then submit's stale write lands."""
    real_set = FakeDict.__setitem__
    fired = []

    def cancel_just_before_the_call_id_is_stored(self, key, value):
        if isinstance(value, dict) and value.get("call_id") and not fired:
            fired.append(backend.cancel(str(key).removeprefix("job:")))
        return real_set(self, key, value)

    monkeypatch.setattr(FakeDict, "__setitem__", cancel_just_before_the_call_id_is_stored)
    job = backend.submit("diagnostic", LONG)
    monkeypatch.setattr(FakeDict, "__setitem__", real_set)

    assert fired[0].status == JobStatus.cancelled
    assert job.status == JobStatus.cancelled
    assert backend.poll(job.id).status == JobStatus.cancelled
    assert_cancelled(only_call(backend))
    assert backend._in_flight("diagnostic") == []


# ## 3. two polls handing the same job to the GPU


def _cpu_twin(job):
    return {"ok": False, "handoff": "Transcriber"}


def _gpu(job):
    return {"ok": True, "result": {"on": "gpu"}, "seconds": 1.0, "resource": "A10G", "attempt": 1}


def test_two_polls_of_a_job_being_handed_off_spawn_one_gpu_call(tmp_path):
    p = FakePrimitives(tmp_path / "modal", {"TranscriberCPU": (_cpu_twin, 0), "Transcriber": (_gpu, 0)})
    b = ModalBackend(load_config(default_path()), p, wait_slice=0.2)
    try:
        job = b.submit("transcribe_audio", {"audio": "https://example.com/long.wav"})
        assert p.function_call(p.jobs[job_key(job.id)]["call_id"]).join(30)  # measured: wants the GPU

        gpu = p.function("Transcriber")
        real_spawn = gpu.spawn
        in_spawn, release = threading.Event(), threading.Event()

        def held_spawn(*args):
            in_spawn.set()
            assert release.wait(30)
            return real_spawn(*args)

        gpu.spawn = held_spawn
        first = threading.Thread(target=b.poll, args=(job.id,))
        first.start()
        assert in_spawn.wait(30)
        assert not b.poll(job.id).status.terminal  # the second poll must not spawn again
        release.set()
        first.join(30)

        assert b.wait(job.id, 30).result == {"on": "gpu"}
        assert [name for name, _ in p.spawned] == ["TranscriberCPU", "Transcriber"]
    finally:
        b.close()


# ## 4. admission under concurrent submits


def test_concurrent_submits_never_exceed_max_containers(backend):
    cap = backend.config.function("diagnostic").max_containers
    n = cap * 3
    go = threading.Barrier(n)
    accepted, refused = [], []

    def submit():
        go.wait()
        try:
            accepted.append(backend.submit("diagnostic", LONG))
        except CapabilityError as e:
            refused.append(e.code)

    threads = [threading.Thread(target=submit) for _ in range(n)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]

    assert len(accepted) == cap and refused == ["capacity"] * (n - cap)
    assert backend.capacity()["diagnostic"].busy == cap
    for job in accepted:
        backend.cancel(job.id)
        backend.cancel(job.id)  # a second ending frees nothing more
    assert backend.capacity()["diagnostic"].free == cap
    backend.cancel(backend.submit("diagnostic", LONG).id)


# ## 5. the idempotency fingerprint matches the in-house digest


def test_a_same_key_replay_treats_1_and_1_0_alike(backend):
    first = backend.submit("diagnostic", {"action": "sleep", "seconds": 30}, idempotency_key="same")
    again = backend.submit("diagnostic", {"action": "sleep", "seconds": 30.0}, idempotency_key="same")
    assert again.id == first.id
    with pytest.raises(CapabilityError) as conflict:
        backend.submit("diagnostic", {"action": "sleep", "seconds": 30.5}, idempotency_key="same")
    assert conflict.value.code == "idempotency_conflict"
    backend.cancel(first.id)
