"""The sidecar's asset server answers what it cannot serve, and stays up.

A request whose path has a malformed percent escape threw from the request handler and
killed the sidecar: its browser and any render it was running went with it.
"""

from __future__ import annotations

import http.client
import shutil

import pytest


@pytest.fixture
def served(render_state, assets):
    sc = render_state.sidecar
    sc.ensure()
    folder = sc.serve_dir / "file-server-test"
    folder.mkdir(exist_ok=True)
    shutil.copyfile(assets["red"], folder / "red.png")
    yield sc
    shutil.rmtree(folder, ignore_errors=True)


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/%E0%A4%A", "/file-server-test/%", "/%ZZ.png"])
def test_a_malformed_escape_is_a_400_and_the_sidecar_lives_on(served, path):
    sc = served
    pid, spawns = sc.proc.pid, sc.spawns
    assert _get(sc.port, path) == 400
    assert sc.alive and sc.proc.pid == pid
    assert _get(sc.port, "/file-server-test/red.png") == 200
    assert sc.ping() and sc.spawns == spawns


def test_escaped_names_and_traversal_are_still_answered_as_before(served):
    sc = served
    assert _get(sc.port, "/file-server-test/%72ed.png") == 200  # %72 is "r"
    assert _get(sc.port, "/file-server-test/blue.png") == 404
    assert _get(sc.port, "/..%2F..%2Fetc%2Fpasswd") == 403
