"""SupabaseStore.cleanup against an image-cache hit that refreshes an old object during the walk,
with the REAL supabase-py against the local fake of the Storage REST protocol.

Cleanup listed every `sha256/<aa>/` folder first and removed what was old at the very end, so
an object listed as old, then refreshed by `touch` (which answered True: "it is stored, its
clock restarted") while the walk went on through the other folders, was removed anyway: the
job that relied on the cache hit then read a missing artifact. Each folder is now listed and
cleaned before the next one is read, so a touch after its folder's turn keeps the object, and
one before it finds it gone (False, the cache makes the image again).
"""

from __future__ import annotations

import hashlib
import json

import httpx
from supabase import ClientOptions, create_client

from fake_supabase_storage import FakeSupabaseStorage
from modal_functions.storage.supabase_store import SupabaseStore

KEY = "service-role-key"
DAY = 86400.0


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _store(fake: FakeSupabaseStorage, clock: Clock, on_request=None) -> SupabaseStore:
    http = httpx.Client(timeout=5, event_hooks={"request": [on_request] if on_request else []})
    return SupabaseStore(create_client(fake.url, KEY, options=ClientOptions(httpx_client=http)), http=http, clock=clock)


def _in_two_shards() -> tuple[bytes, bytes]:
    """Two payloads whose keys sit in different `sha256/<aa>/` folders, the first folder listed first."""
    payloads = [f"image {i}".encode() for i in range(8)]
    first = min(payloads, key=lambda p: hashlib.sha256(p).hexdigest())
    last = max(payloads, key=lambda p: hashlib.sha256(p).hexdigest())
    assert hashlib.sha256(first).hexdigest()[:2] < hashlib.sha256(last).hexdigest()[:2]
    return first, last


def test_an_object_touched_during_the_walk_is_never_removed_after_touch_said_it_is_kept():
    clock = Clock()
    with FakeSupabaseStorage(service_key=KEY, clock=clock) as fake:
        cache = _store(fake, clock)
        early, late = _in_two_shards()
        cached = cache.put_bytes(early, "png")  # in the folder cleanup reads first
        other = cache.put_bytes(late, "png")
        clock.now += 8 * DAY
        late_folder = "sha256/" + other.sha256[:2]
        touched: list[bool] = []

        def a_cache_hit_while_cleanup_lists_the_later_folder(request: httpx.Request) -> None:
            if "/object/list/" in request.url.path and json.loads(request.content).get("prefix") == late_folder and not touched:
                touched.append(cache.touch(cached.key))

        cleaner = _store(fake, clock, a_cache_hit_while_cleanup_lists_the_later_folder)
        removed = cleaner.cleanup(7 * DAY)
        assert touched, "the walk never listed the later folder"
        # whatever touch answered is what the cache can rely on
        assert cache.exists(cached.key) == touched[0]
        assert not cache.exists(other.key)
        assert removed == (1 if touched[0] else 2)


def test_cleaning_folder_by_folder_misses_no_folder_across_list_pages(monkeypatch):
    """Emptied folders drop out of their parent's listing: cleaning them must not shift a page still to be read."""
    import modal_functions.storage.supabase_store as supabase_store

    monkeypatch.setattr(supabase_store, "LIST_PAGE", 2)
    clock = Clock()
    with FakeSupabaseStorage(service_key=KEY, clock=clock) as fake:
        store = _store(fake, clock)
        video = store.put_bytes(b"\x00\x00\x00\x18ftypmp42 old", "mp4")
        published = [store.publish(video.key, f"owner{i}", "r") for i in range(7)]
        images = [store.put_bytes(f"old {i}".encode(), "png") for i in range(9)]
        clock.now += 8 * DAY
        fresh = store.put_bytes(b"fresh", "png")
        assert store.cleanup(7 * DAY, include_renders=True) == 7 + 9 + 1
        assert not any(store.exists(r.key) for r in published + images + [video])
        assert store.exists(fresh.key)
        assert fake.buckets["renders"] == {}
