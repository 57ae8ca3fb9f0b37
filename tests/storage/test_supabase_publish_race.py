"""SupabaseStore.publish onto a key that is being published concurrently, with the REAL supabase-py
against the local fake of the Storage REST protocol.

Publishing replaces whatever is at `renders/<owner>/<id>.<ext>`. It was a read (`exists`), a
remove and a copy: another publisher of the same key landing between the remove and the copy
made the copy a 409 Duplicate, answered as a non-retryable storage_unavailable, and between
the two the published object was missing for every reader. The copy is now one upsert.
"""

from __future__ import annotations

import httpx
import pytest
from supabase import ClientOptions, create_client

from fake_supabase_storage import FakeSupabaseStorage
from modal_functions.storage.supabase_store import SupabaseStore

KEY = "service-role-key"
DEST = "u/r.json"


def _store(fake: FakeSupabaseStorage, on_request=None) -> SupabaseStore:
    http = httpx.Client(timeout=5, event_hooks={"request": [on_request] if on_request else []})
    return SupabaseStore(create_client(fake.url, KEY, options=ClientOptions(httpx_client=http)), http=http)


def _is_copy(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/object/copy")


@pytest.fixture
def fake():
    with FakeSupabaseStorage(service_key=KEY) as fake:
        yield fake


def test_a_publish_racing_another_publish_of_the_same_key_succeeds(fake):
    other = _store(fake)
    theirs = other.put_bytes(b'{"v": "theirs"}', "json")
    raced = []

    def the_other_publisher_lands_first(request: httpx.Request) -> None:
        if _is_copy(request) and not raced:
            raced.append(other.publish(theirs.key, "u", "r"))

    store = _store(fake, the_other_publisher_lands_first)
    ours = store.put_bytes(b'{"v": "ours"}', "json")
    published = store.publish(ours.key, "u", "r")
    assert raced and raced[0].key == published.key == "renders/" + DEST
    # the last publish wins, and what it answered is what is stored
    assert fake.buckets["renders"][DEST].data == b'{"v": "ours"}'
    assert (published.sha256, published.size) == (ours.sha256, len(b'{"v": "ours"}'))


def test_a_republish_never_leaves_the_key_missing(fake):
    seen: list[bytes | None] = []

    def look_while_copying(request: httpx.Request) -> None:
        if _is_copy(request):
            obj = fake.buckets["renders"].get(DEST)
            seen.append(obj.data if obj else None)

    store = _store(fake, look_while_copying)
    first = store.put_bytes(b'{"v": 1}', "json")
    store.publish(first.key, "u", "r")
    second = store.put_bytes(b'{"v": 2}', "json")
    store.publish(second.key, "u", "r")
    assert seen == [None, b'{"v": 1}']  # a reader at any moment found the old version or the new one
    assert fake.buckets["renders"][DEST].data == b'{"v": 2}'


def test_a_storage_without_copy_upsert_still_republishes(fake):
    def an_older_storage_ignores_the_header(request: httpx.Request) -> None:
        if _is_copy(request):
            del request.headers["x-upsert"]

    store = _store(fake, an_older_storage_ignores_the_header)
    for body in (b'{"v": 1}', b'{"v": 2}'):
        store.publish(store.put_bytes(body, "json").key, "u", "r")
    assert fake.buckets["renders"][DEST].data == b'{"v": 2}'
