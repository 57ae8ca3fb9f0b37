"""The registry across versions and failing disks: unreadable records, a full disk at create, the re-save thread at close."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from modal_functions.contract.jobs import Job, JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.runtime.registry import RECORD_UNREADABLE, REGISTRY_UNAVAILABLE, JobRegistry, input_digest

T0 = datetime(2026, 11, 23, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 24, tzinfo=timezone.utc)


def job(id: str, status: JobStatus = JobStatus.queued, key: str | None = None, kind: str = "diagnostic", **input) -> Job:
    return Job(id=id, kind=kind, status=status, input=input, idempotency_key=key, created_at=T0, updated_at=T0, backend="inhouse")


def tamper(path, rewrite) -> None:
    """Rewrite stored rows as another version (or a damaged disk) would have left them."""
    db = sqlite3.connect(path)
    with db:
        for id, body in db.execute("select id, body from jobs").fetchall():
            new = rewrite(id, body)
            if new is not None:
                db.execute("update jobs set body = ?, kind = json_extract(?, '$.kind') where id = ?", (new, new, id)) \
                    if id == "alien" else db.execute("update jobs set body = ? where id = ?", (new, id))
    db.close()


def newer(body: str) -> str:
    data = json.loads(body)
    data["priority"] = 5  # a field a newer version added
    data["progress"]["eta_s"] = 12  # and one nested
    return json.dumps(data)


def retyped(body: str) -> str:
    data = json.loads(body)
    data["attempts"] = "several"  # a field another version writes with another type
    return json.dumps(data)


@pytest.fixture
def seeded(tmp_path):
    """A registry holding, as another version left it: a running job with fields this version does not know (still
    readable), a running one with a field of another type, a queued one with a truncated body, a succeeded one whose
    body is not JSON, a job of a kind this version does not know, and a readable running job."""
    path = tmp_path / "jobs.sqlite3"
    reg = JobRegistry(path)
    reg.create(job("newer", JobStatus.running, key="k-newer", x=4), input_digest("diagnostic", {"x": 4}))
    reg.create(job("retyped", JobStatus.running, key="k-retyped", x=1), input_digest("diagnostic", {"x": 1}))
    reg.create(job("truncated", key="k-truncated", x=2), input_digest("diagnostic", {"x": 2}))
    reg.create(job("done", JobStatus.succeeded, x=3).model_copy(update={"result": {"echo": "ok"}, "finished_at": T0}))
    reg.create(job("alien", JobStatus.running, key="k-alien"), input_digest("diagnostic", {}))
    reg.create(job("fine", JobStatus.running))
    reg.close()

    def rewrite(id: str, body: str) -> str | None:
        return {"newer": newer(body), "retyped": retyped(body), "truncated": body[: len(body) // 2], "done": "\x00garbage",
                "alien": json.dumps({**json.loads(body), "kind": "teleport"})}.get(id)

    tamper(path, rewrite)
    return path


def test_recover_survives_records_it_cannot_read_and_answers_them_failed(seeded):
    """recover() raised pydantic's ValidationError on the first unreadable record: the server could not start."""
    reg = JobRegistry(seeded)
    recovered = {j.id: j for j in reg.recover(now=T1)}
    assert sorted(recovered) == ["fine", "newer", "retyped", "truncated"]  # "alien": kept as it was, see below
    assert recovered["fine"].error.code == "interrupted"
    # Fields a newer version added are ignored: the job is read as it is (interrupted like any running job).
    assert recovered["newer"].error.code == "interrupted" and recovered["newer"].input == {"x": 4}
    for id, key, input in (("retyped", "k-retyped", {"x": 1}), ("truncated", "k-truncated", {})):
        got = reg.get(id)
        assert got == recovered[id]
        assert got.status == JobStatus.failed and got.error.code == RECORD_UNREADABLE and got.error.retryable
        assert got.idempotency_key == key and got.input == input and got.finished_at == T1
    assert reg.find_key("k-retyped") == ("retyped", input_digest("diagnostic", {"x": 1}))
    # a replay of the key answers the same failed job, not a 500
    again, created = reg.create(job("other", key="k-retyped", x=1), input_digest("diagnostic", {"x": 1}))
    assert not created and again.id == "retyped" and again.error.code == RECORD_UNREADABLE

    done = reg.get("done")  # a finished record: answered failed too, never a 500
    assert done.status == JobStatus.failed and done.error.code == RECORD_UNREADABLE and "succeeded" in done.error.message

    with pytest.raises(CapabilityError) as alien:  # no Job can carry a kind this version does not know
        reg.get("alien")
    assert alien.value.code == RECORD_UNREADABLE and alien.value.http_status == 410

    assert reg.recover(now=T1) == []  # quarantined once: the next start has nothing more to do
    reg.close()

    db = sqlite3.connect(seeded)  # nothing is lost: every original body is kept aside as it was
    kept = dict(db.execute("select id, body from quarantined_jobs").fetchall())
    db.close()
    assert sorted(kept) == ["alien", "done", "retyped", "truncated"]  # "newer" was readable: nothing set aside
    assert kept["done"] == "\x00garbage" and json.loads(kept["retyped"])["attempts"] == "several"


def test_a_full_disk_at_create_is_a_retryable_503_and_records_nothing(tmp_path):
    """SQLITE_FULL (as ENOSPC) rolled the transaction back itself; the explicit rollback then raised
    `cannot rollback - no transaction is active`, which reached the caller as a 500."""
    reg = JobRegistry(tmp_path / "jobs.sqlite3")
    pages = reg._db.execute("pragma page_count").fetchone()[0]
    reg._db.execute(f"pragma max_page_count = {pages}")  # the file may not grow: a full disk, as SQLite sees it
    big = job("j1", key="k", payload="x" * 50_000)
    digest = input_digest("diagnostic", big.input)
    with pytest.raises(CapabilityError) as full:
        reg.create(big, digest)
    assert full.value.code == REGISTRY_UNAVAILABLE and full.value.http_status == 503 and full.value.retryable
    assert "full" in full.value.message
    assert reg.count() == 0 and reg.find_key("k") is None and not reg._db.in_transaction  # nothing half-written

    reg._db.execute("pragma max_page_count = 1073741823")  # space again: the same key goes through
    created, fresh = reg.create(big, digest)
    assert fresh and reg.get("j1") == created and reg.find_key("k") == ("j1", digest)
    reg.close()


def test_a_locked_registry_at_create_is_a_retryable_503(tmp_path):
    """`begin immediate` sat outside the error handling: a registry locked past the timeout was a 500."""
    path = tmp_path / "jobs.sqlite3"
    reg = JobRegistry(path)
    reg._db.execute("pragma busy_timeout = 0")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("begin immediate")  # someone holds the write lock
    try:
        with pytest.raises(CapabilityError) as locked:
            reg.create(job("j1"))
        assert locked.value.code == REGISTRY_UNAVAILABLE and locked.value.http_status == 503
    finally:
        other.execute("rollback")
        other.close()
    reg.create(job("j1"))
    assert reg.count() == 1
    reg.close()


def test_the_resave_thread_stops_when_the_backend_closes(make_backend, monkeypatch):
    """A finished job the registry never takes kept its re-save thread retrying every second after close()."""
    from runtime_support import DEADLINE

    backend = make_backend(workers=1, preload=True)
    attempts = []

    def failing_save(job):
        if job.status.terminal:
            attempts.append(job.id)
            raise sqlite3.OperationalError("disk I/O error")

    real_save = backend.registry.save
    monkeypatch.setattr(backend.registry, "save", lambda j: failing_save(j) if j.status.terminal else real_save(j))
    job_ = backend.submit("diagnostic", {"action": "succeed", "payload": "p"})
    assert backend.wait(job_.id, DEADLINE).status == JobStatus.succeeded
    resaver = backend._resaver
    assert resaver is not None and resaver.is_alive()
    backend.close()
    resaver.join(DEADLINE)  # a bound for a broken build, not a measured duration
    assert not resaver.is_alive()
    assert attempts  # it did try
