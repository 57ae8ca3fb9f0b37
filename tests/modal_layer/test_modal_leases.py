"""Warm leases on Modal, with a fake clock and the fake autoscaler.

The lease raises the functions' min_containers; expiry brings them back to the
modal.toml minimum even if the caller never comes back; a redeploy (which wipes
autoscaler overrides) gets the live leases re-applied by the next Period tick.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modal_functions.config import default_path, load_config
from modal_functions.contract.jobs import WarmLease
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.fake_primitives import FakeAutoscaler, FakeDict
from modal_functions.modal_layer.leases import LeaseBook
from modal_functions.modal_layer.settings_from_toml import MODAL_OBJECTS, object_kwargs


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def static_minimums(config) -> dict[str, int]:
    return {name: object_kwargs(config, name)["min_containers"] for kind, names in MODAL_OBJECTS.items() if kind != "api" for name in names}


@pytest.fixture
def config():
    return load_config(default_path())


@pytest.fixture
def world(tmp_path, config):
    clock = Clock()
    leases = FakeDict(tmp_path / "leases.sqlite")
    autoscaler = FakeAutoscaler(static_minimums(config))
    return clock, leases, autoscaler, LeaseBook(config, leases, autoscaler, clock=clock)


def period_tick(config, leases, autoscaler, clock):
    """What the `reconcile_leases` Period function does, in a fresh container."""
    return LeaseBook(config, leases, autoscaler, clock=clock).reconcile()


def test_a_lease_raises_the_minimum_of_its_kinds_only(world, config):
    clock, leases, autoscaler, book = world
    lease = book.grant(["transcribe_audio"], ttl_s=600, min_containers=2)
    assert isinstance(lease, WarmLease) and lease.backend == "modal" and lease.min_containers == 2
    assert autoscaler.current["Transcriber"] == 2 and autoscaler.current["TranscriberCPU"] == 2
    static = static_minimums(config)
    for name in ("generate_images", "render_video", "render_chunk", "diagnostic"):
        assert autoscaler.current[name] == static[name]
    assert lease.expires_at.timestamp() == pytest.approx(clock() + 600)


def test_expiry_restores_the_modal_toml_minimum_even_if_the_caller_is_gone(world, config):
    clock, leases, autoscaler, book = world
    book.grant(["render_video"], ttl_s=300, min_containers=3)
    assert autoscaler.current["render_video"] == 3
    del book  # the caller that asked for the lease is gone; only the Period job remains
    clock.advance(299)
    period_tick(config, leases, autoscaler, clock)
    assert autoscaler.current["render_video"] == 3  # still live
    clock.advance(2)
    period_tick(config, leases, autoscaler, clock)
    assert autoscaler.current == static_minimums(config)
    assert list(leases.keys()) == []  # the expired lease is dropped


def test_a_redeploy_wipes_overrides_and_the_next_tick_reapplies_live_leases(world, config):
    clock, leases, autoscaler, book = world
    book.grant(["generate_images", "diagnostic"], ttl_s=3600, min_containers=2)
    autoscaler.redeploy()  # `modal deploy` resets autoscaler overrides to the decorator values
    assert autoscaler.current == static_minimums(config)
    clock.advance(60)
    period_tick(config, leases, autoscaler, clock)
    assert autoscaler.current["generate_images"] == 2 and autoscaler.current["diagnostic"] == 2


def test_overlapping_leases_keep_the_largest_live_minimum(world, config):
    clock, leases, autoscaler, book = world
    book.grant(["render_video"], ttl_s=100, min_containers=4)
    book.grant(["render_video"], ttl_s=1000, min_containers=1)
    assert autoscaler.current["render_video"] == 4
    clock.advance(101)
    period_tick(config, leases, autoscaler, clock)
    assert autoscaler.current["render_video"] == 1


def test_the_minimum_defaults_to_one_and_is_capped_by_max_containers(world, config):
    clock, leases, autoscaler, book = world
    assert book.grant(["diagnostic"], ttl_s=60).min_containers == 1
    assert autoscaler.current["diagnostic"] == 1
    book.grant(["diagnostic"], ttl_s=60, min_containers=100)
    assert autoscaler.current["diagnostic"] == config.function("diagnostic").max_containers


def test_modal_toml_minimum_is_the_floor(tmp_path):
    from modal_functions.runtime.testing import write_config

    config = load_config(write_config(tmp_path / "modal.toml", functions={"generate_images": {"min_containers": 2}}))
    clock, leases, autoscaler = Clock(), FakeDict(tmp_path / "l.sqlite"), FakeAutoscaler(static_minimums(config))
    LeaseBook(config, leases, autoscaler, clock=clock).grant(["generate_images"], ttl_s=10, min_containers=1)
    assert autoscaler.current["generate_images"] == 2
    clock.advance(11)
    period_tick(config, leases, autoscaler, clock)
    assert autoscaler.current["generate_images"] == 2


def test_only_capability_kinds_can_be_warmed(world):
    *_, book = world
    with pytest.raises(CapabilityError) as e:
        book.grant(["api"], ttl_s=60)
    assert e.value.http_status == 422


def test_post_v1_warm_on_the_modal_backend_raises_min_containers(tmp_path, config):
    from modal_functions.api.main import create_app
    from modal_functions.modal_layer.fake_primitives import fake_backend
    from modal_functions.settings import Settings

    backend = fake_backend(tmp_path / "modal", config)
    settings = Settings(_env_file=None, COMPUTE_TOKEN="t0ken", CANVASCAST_DATA_DIR=str(tmp_path / "data"), CANVASCAST_ENV="local")
    try:
        with TestClient(create_app(settings, backend), headers={"Authorization": "Bearer t0ken"}) as client:
            r = client.post("/v1/warm", json={"kinds": ["transcribe_audio"], "ttl_s": 900, "min_containers": 2})
            assert r.status_code == 200, r.text
            lease = WarmLease.model_validate(r.json())
            assert lease.backend == "modal" and lease.kinds == ["transcribe_audio"]
            assert backend.p.autoscaler.current["Transcriber"] == 2
            health = client.get("/health").json()
            assert health["backend"] == "modal" and health["capacity"]["transcribe_audio"]["warm"] is True
    finally:
        backend.close()


def test_the_period_function_body_runs_locally(tmp_path, config, monkeypatch):
    import modal_functions.modal_layer.app as modal_app
    import modal_functions.modal_layer.primitives as primitives
    from modal_functions.modal_layer.fake_primitives import FakePrimitives

    fake = FakePrimitives(tmp_path / "modal", {}, static_minimums(config))
    monkeypatch.setattr(primitives, "ModalPrimitives", lambda app_name: fake)
    try:
        fake.leases["lease:old"] = {"id": "old", "kinds": ["render_video"], "min_containers": 3, "expires_at": 1.0}
        fake.autoscaler.current["render_video"] = 3
        out = modal_app.reconcile_leases.local()
        assert out["min_containers"]["render_video"] == static_minimums(config)["render_video"]
        assert fake.autoscaler.current["render_video"] == static_minimums(config)["render_video"]
        assert out["in_flight"] == 0
    finally:
        fake.close()


def test_the_period_function_still_sweeps_in_flight_jobs_when_the_autoscaler_fails(tmp_path, config, monkeypatch):
    import modal_functions.modal_layer.app as modal_app
    import modal_functions.modal_layer.primitives as primitives
    from modal_functions.modal_layer.backend import ModalBackend
    from modal_functions.modal_layer.fake_primitives import FakePrimitives
    from modal_functions.modal_layer.leases import AutoscalerError

    fake = FakePrimitives(tmp_path / "modal", {}, static_minimums(config))
    monkeypatch.setattr(primitives, "ModalPrimitives", lambda app_name: fake)
    swept: list[str | None] = []
    monkeypatch.setattr(ModalBackend, "sweep", lambda self, kind=None: swept.append(kind) or 0)

    def unreachable(name, n):
        raise ConnectionError("control plane unreachable")

    monkeypatch.setattr(fake.autoscaler, "set_min_containers", unreachable)
    try:
        fake.autoscaler.current["render_video"] = 3  # above the minimum: the tick must set it
        with pytest.raises(AutoscalerError):
            modal_app.reconcile_leases.local()
        assert swept == [None]
    finally:
        fake.close()


def test_a_failed_autoscaler_call_keeps_the_lease_for_the_next_tick(world, config):
    clock, leases, autoscaler, book = world

    class Flaky(FakeAutoscaler):
        down = True

        def set_min_containers(self, name, n):
            if self.down:
                raise ConnectionError("control plane unreachable")
            super().set_min_containers(name, n)

    flaky = Flaky(static_minimums(config))
    with pytest.raises(CapabilityError) as e:
        LeaseBook(config, leases, flaky, clock=clock).grant(["render_video"], ttl_s=600, min_containers=2)
    assert e.value.http_status == 503 and e.value.retryable
    flaky.down = False
    period_tick(config, leases, flaky, clock)
    assert flaky.current["render_video"] == 2


def test_the_real_autoscaler_adapter_calls_modal_1_6_apis(monkeypatch):
    """`Function.autoscaler.update(...)` for functions, `Cls(...).update_autoscaler(...)` for classes."""
    import modal

    from modal_functions.modal_layer.primitives import ModalAutoscaler

    calls = []

    class Manager:
        def __init__(self, name):
            self.name = name

        def update(self, **kw):
            calls.append(("function", self.name, kw))

    class Fn:
        def __init__(self, name):
            self.autoscaler = Manager(name)

    class Obj:
        def __init__(self, name):
            self.name = name

        def update_autoscaler(self, **kw):
            calls.append(("class", self.name, kw))

    monkeypatch.setattr(modal.Function, "from_name", lambda app, name, **kw: Fn(f"{app}/{name}"))
    monkeypatch.setattr(modal.Cls, "from_name", lambda app, name, **kw: (lambda: Obj(f"{app}/{name}")))
    scaler = ModalAutoscaler("canvascast")
    scaler.set_min_containers("render_video", 3)
    scaler.set_min_containers("Transcriber", 1)
    assert calls == [
        ("function", "canvascast/render_video", {"min_containers": 3}),
        ("class", "canvascast/Transcriber", {"min_containers": 1}),
    ]
