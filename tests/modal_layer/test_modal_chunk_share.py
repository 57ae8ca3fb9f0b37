"""A render plans its chunks from the chunk pool's share, not from `render_video`'s whole pool.

`render_video` planned every render with `free_workers = render_video.max_containers`: up
to 20 chunks per render. `render_chunk` has as many containers (it shares the table), so
20 admitted renders could queue ~400 chunk calls on 20 chunk containers, while their own
20 eight-core containers waited idle (billed) and renders ran into their timeout. Now a
render plans for `render_chunk`'s containers divided among the renders in flight (the
`render_video` admission slots taken, itself included), at least 1 (it then renders in
its own container, as in-house): a lone render still fans out to the whole pool.

Offline: the `active` Dict is a plain dict (or one that fails).
"""

from __future__ import annotations

import pytest

from modal_functions.modal_layer.backend import active_key
from modal_functions.modal_layer.chunks import remote_for_render
from modal_functions.modal_layer.settings_from_toml import object_kwargs
from modal_support import diagnostic_config


def taken(renders: int, others: int = 3) -> dict:
    active = {active_key("render_video", i): {"job_id": f"r{i}", "at": 0.0} for i in range(renders)}
    active.update({active_key("diagnostic", i): {"job_id": f"d{i}", "at": 0.0} for i in range(others)})
    return active


@pytest.fixture
def config():
    return diagnostic_config()


def pool(config) -> int:
    return object_kwargs(config, "render_chunk")["max_containers"]


@pytest.mark.parametrize("renders", [0, 1])
def test_a_lone_render_plans_for_the_whole_chunk_pool(config, renders):
    assert remote_for_render(config, taken(renders)).free_workers == pool(config)


def test_renders_in_flight_share_the_chunk_pool(config):
    assert pool(config) == 20  # modal.toml's render_chunk pool, which these numbers assume
    assert remote_for_render(config, taken(4)).free_workers == 5
    assert remote_for_render(config, taken(3)).free_workers == 6
    # A full kind: one chunk each, so every render runs in its own container; nothing queues.
    assert remote_for_render(config, taken(20)).free_workers == 1


def test_the_chunks_planned_by_a_full_kind_fit_the_chunk_pool(config):
    renders = object_kwargs(config, "render_video")["max_containers"]
    planned = sum(remote_for_render(config, taken(renders)).free_workers for _ in range(renders))
    assert planned <= max(pool(config), renders)


class Unreachable(dict):
    def keys(self):
        raise ConnectionError("Modal Dict unreachable")

    def items(self):
        raise ConnectionError("Modal Dict unreachable")


def test_an_unreadable_dict_plans_as_if_every_render_slot_were_taken(config):
    renders = object_kwargs(config, "render_video")["max_containers"]
    assert remote_for_render(config, Unreachable()).free_workers == max(1, pool(config) // renders)
