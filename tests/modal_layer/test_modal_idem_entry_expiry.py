"""An idempotency entry must not outlive its job record through Modal Dict's expiry.

Modal drops a Dict entry after 7 days without a read or write of it (`modal.Dict` docs),
each entry on its own clock. Every read of a key's entry was followed by a read of its job
record, except a 409 replay (same key, different request), which read the entry alone. A
caller sending such conflicting POSTs kept the entry alive while the record expired; a
POST with the key and its original request then answered 404 `not_found`, and kept
answering it, since that POST read (so refreshed) the entry too.

The fake Dict is given Modal's expiry: every get/put/pop of a jobs-Dict key stamps it
with a test day counter, and `expire()` drops the keys idle for 7 days.
"""

from __future__ import annotations

import pytest

from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.fake_primitives import FakeDict

DAY = 86_400.0
INACTIVITY_S = 7 * DAY


class ExpiringDicts:
    """Last access per key of one FakeDict file, and Modal's inactivity expiry over it."""

    def __init__(self, monkeypatch, path: str):
        self.path, self.now, self.touched = path, 0.0, {}
        real_get, real_put, real_pop = FakeDict.get, FakeDict.put, FakeDict.pop

        def get(d, key, default=None):
            self._touch(d, key)
            return real_get(d, key, default)

        def put(d, key, value, *, skip_if_exists=False):
            self._touch(d, key)
            return real_put(d, key, value, skip_if_exists=skip_if_exists)

        def pop(d, key, *default):
            self._touch(d, key)
            return real_pop(d, key, *default)

        self._real_pop = real_pop
        monkeypatch.setattr(FakeDict, "get", get)
        monkeypatch.setattr(FakeDict, "put", put)
        monkeypatch.setattr(FakeDict, "pop", pop)

    def _touch(self, d, key) -> None:
        if d.path == self.path:
            self.touched[key] = self.now

    def expire(self, d: FakeDict) -> list:
        gone = [k for k in list(d.keys()) if self.now - self.touched.get(k, 0.0) >= INACTIVITY_S]
        for k in gone:
            self._real_pop(d, k, None)
        return gone


def test_conflicting_replays_keep_the_record_alive_with_the_entry(backend, monkeypatch):
    dicts = ExpiringDicts(monkeypatch, backend.p.jobs.path)
    original = {"action": "succeed", "payload": "first"}
    job = backend.submit("diagnostic", original, idempotency_key="K")
    assert backend.wait(job.id, 30).status == JobStatus.succeeded

    for day in (3, 6, 9):  # a caller reusing the key with another request, every few days
        dicts.now = day * DAY
        with pytest.raises(CapabilityError) as conflict:
            backend.submit("diagnostic", {"action": "succeed", "payload": "other"}, idempotency_key="K")
        assert conflict.value.code == "idempotency_conflict"
        dicts.expire(backend.p.jobs)

    dicts.now = 10 * DAY
    dicts.expire(backend.p.jobs)
    replay = backend.submit("diagnostic", original, idempotency_key="K")  # was: 404 not_found
    assert replay.id == job.id and replay.status == JobStatus.succeeded
    assert backend.find_by_idempotency_key("K").id == job.id
