"""`ServerProcess.start()` on a port another server already listens on.

Its readiness probe asked `GET /health` on the port while the child was still importing; the
other server answered 200, so `start()` reported success, `url` pointed at the other server
(its data dir, its token), and the child died moments later with `[cannot_listen]`.
"""

from __future__ import annotations

import httpx
import pytest

from modal_functions.api.server_process import ServerNotHealthy, ServerProcess
from modal_functions.runtime.testing import write_config

WAIT_S = 30.0  # upper bound for a request; never an asserted duration


def test_a_port_in_use_is_refused_not_taken_for_our_server(tmp_path):
    toml = write_config(tmp_path / "modal.toml", inhouse={"diagnostic": {"workers": 1, "queue": 0}})
    args = ["--kinds", "diagnostic", "--no-access-log"]
    with ServerProcess(tmp_path / "first", "first-token", modal_toml=toml, args=args) as first:
        second = ServerProcess(tmp_path / "second", "second-token", port=first.port, modal_toml=toml, args=args)
        with pytest.raises(ServerNotHealthy, match="in use"):
            second.start()
        assert second.proc is None  # nothing left running
        assert second.stop() is None
        # the first server is untouched
        assert httpx.get(f"{first.url}/v1/jobs/x", headers={"Authorization": "Bearer first-token"}, timeout=WAIT_S).status_code == 404
