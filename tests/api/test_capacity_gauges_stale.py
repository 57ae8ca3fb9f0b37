"""When the backend cannot say its capacity, /metrics does not keep serving the last numbers.

On Modal, capacity reads the warm leases from a `modal.Dict`: it can fail. /metrics swallowed
the error and kept exporting the capacity gauges of the last good scrape, so a dashboard showed
free room on a backend nobody could read. Now those gauges are dropped for as long as the
reading fails, and `canvascast_capacity_up` says whether they were read (1) or not (0).
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api_support import FakeBackend, make_settings

from modal_functions.api.main import create_app

GAUGES = ("canvascast_capacity_free", "canvascast_workers_busy", "canvascast_jobs_queued")


class FlakyCapacity(FakeBackend):
    def __init__(self):
        super().__init__()
        self.failing = False

    def capacity(self):
        if self.failing:
            raise ConnectionError("modal.Dict unreachable")
        return super().capacity()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _names(text: str) -> set[str]:
    return {name for name, _ in _samples(text)}


def _up(text: str) -> float:
    return _samples(text)[("canvascast_capacity_up", (("backend", "inhouse"),))]


def test_capacity_gauges_are_dropped_and_marked_down_while_capacity_fails(tmp_path):
    backend = FlakyCapacity()
    try:
        with TestClient(create_app(make_settings(tmp_path), backend)) as http:
            good = http.get("/metrics").text
            assert set(GAUGES) <= _names(good)

            backend.failing = True
            bad = http.get("/metrics")
            assert bad.status_code == 200
            assert not set(GAUGES) & _names(bad.text), "stale capacity gauges still exported"
            assert _up(good) == 1 and _up(bad.text) == 0

            backend.failing = False
            again = http.get("/metrics").text
            assert set(GAUGES) <= _names(again) and _up(again) == 1
    finally:
        backend.close()


def test_a_degraded_health_answer_marks_capacity_down_too(tmp_path):
    """/health reads capacity too and shares the registry: a failed reading there is not hidden either."""
    backend = FlakyCapacity()
    try:
        with TestClient(create_app(make_settings(tmp_path), backend)) as http:
            http.get("/health")
            backend.failing = True
            health = http.get("/health").json()
            assert health["status"] == "degraded"
            app_metrics = http.app.state.metrics
            text = app_metrics.render().decode()
            assert not set(GAUGES) & _names(text)
            assert _up(text) == 0
    finally:
        backend.close()
