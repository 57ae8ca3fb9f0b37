"""`canvascast serve` as a real subprocess on 127.0.0.1: startup, bad input, SSE, sync, 429, stall, faults, metrics, crash recovery."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest

from api_support import TOKEN
from modal_functions.api.client import HttpBackend
from modal_functions.api.server_process import ServerProcess
from modal_functions.contract.jobs import Health, Job
from modal_functions.errors import CapabilityError
from modal_functions.runtime.testing import write_config

AUTH = {"Authorization": f"Bearer {TOKEN}"}
EVENT_TIMEOUT = 30.0  # upper bound for any wait below; never an asserted duration


@pytest.fixture(scope="module")
def modal_toml(tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("cfg") / "modal.toml",
                        inhouse={"diagnostic": {"workers": 2, "queue": 0, "preload": True}},
                        functions={"diagnostic": {"stall_timeout": 3, "retries": 0, "timeout": 30}})  # 3 s: outlasts a loaded machine's pauses


@pytest.fixture(scope="module")
def server(tmp_path_factory, modal_toml):
    s = ServerProcess(tmp_path_factory.mktemp("serve"), TOKEN, modal_toml=modal_toml,
                      args=["--kinds", "diagnostic", "--fault-injection", "--no-access-log"],
                      env={"COMPUTE_MAX_BODY_BYTES": "65536"})
    s.start()
    print(f"\ncanvascast serve healthy after {s.healthy_after_s:.3f} s wall, {s.startup_cpu_s} s CPU")
    yield s
    s.stop()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=EVENT_TIMEOUT) as c:
        yield c
        c.post("/v1/_faults", json={"mode": "none"})


def test_serve_is_healthy_on_loopback(server, http):
    assert server.healthy_after_s is not None
    health = Health.model_validate(httpx.get(f"{server.url}/health").json())  # no token needed
    assert health.status == "ok" and health.backend == "inhouse" and health.capabilities == ["diagnostic"]
    assert health.capacity["diagnostic"].workers == 2
    lines = [line for line in server.log_tail(100_000).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # structured JSON logs, one object per line
    assert any(r["msg"] == "compute plane ready" for r in records)
    assert all({"ts", "level", "logger", "msg"} <= set(r) and "color_message" not in r for r in records)


def test_bad_input_over_http(server, http):
    def code(r):
        return r.status_code, r.json()["error"]["code"]

    assert code(http.post("/v1/jobs", content=b"{nope", headers={"content-type": "application/json"})) == (400, "malformed_json")
    assert code(http.post("/v1/jobs", json={"kind": "teleport", "input": {}})) == (400, "unknown_kind")
    assert code(http.post("/v1/teleport", json={})) == (400, "unknown_kind")
    assert code(http.post("/v1/jobs", json={"kind": "diagnostic", "input": {"steps": 0}})) == (422, "validation_error")
    assert code(http.post("/v1/jobs", content=b"x" * 70_000, headers={"content-type": "application/json"})) == (413, "payload_too_large")
    chunks = (b"y" * 8192 for _ in range(16))  # no Content-Length: counted as it streams
    assert code(http.post("/v1/jobs", content=chunks, headers={"content-type": "application/json"})) == (413, "payload_too_large")
    assert code(httpx.post(f"{server.url}/v1/jobs", json={"kind": "diagnostic", "input": {}})) == (401, "unauthorized")
    assert code(httpx.get(f"{server.url}/v1/jobs/x", headers={"Authorization": "Bearer nope"})) == (401, "unauthorized")
    assert code(http.get("/v1/jobs/job_000000000000000000000000")) == (404, "not_found")


def _raw_exchange(server, data: bytes) -> tuple[int, dict, dict]:
    """Send raw bytes, read until the server closes: (status, headers, JSON body)."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=EVENT_TIMEOUT) as conn:
        try:
            conn.sendall(data)
        except (BrokenPipeError, ConnectionResetError):  # refused before we finished sending
            pass
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_what_the_http_parser_refuses_is_answered_in_the_error_shape(server):
    """uvicorn's default parser took headers of any size (8 MB, before auth) and answered refusals in plain text."""
    status, headers, body = _raw_exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8_000_000 + b"\r\n\r\n")
    assert (status, body["error"]["code"]) == (431, "headers_too_large")
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    # a head past the bound that arrives whole, in one read (h11 only bounds what it still waits for)
    status, _, body = _raw_exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    assert (status, body["error"]["code"]) == (431, "headers_too_large")
    status, headers, body = _raw_exchange(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert (status, body["error"]["code"], body["error"]["retryable"]) == (400, "bad_request", False)
    # Ordinary requests are untouched, headers of a few KiB included.
    assert httpx.get(f"{server.url}/health", headers={"X-Padding": "p" * 8000}, timeout=EVENT_TIMEOUT).status_code == 200


def test_events_stream_progress_to_terminal(server):
    backend = HttpBackend(server.url, TOKEN)
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 0.9, "steps": 3})
    seen = list(backend.events(job.id, timeout=EVENT_TIMEOUT))
    backend.close()
    assert seen[-1].status.value == "succeeded"
    assert any(j.status.value == "running" and j.progress.done >= 1 for j in seen)
    assert [j.progress.done for j in seen] == sorted(j.progress.done for j in seen)


def test_sync_shortcut_envelope(http):
    body = http.post("/v1/diagnostic", json={"payload": "hi"}, headers={"Idempotency-Key": "sync-1"}).json()
    assert body["success"] is True and body["data"]["echo"] == "hi" and body["job"]["idempotency_key"] == "sync-1"
    failed = http.post("/v1/diagnostic", json={"action": "fail"})
    assert failed.status_code == 200
    assert failed.json()["success"] is False and failed.json()["error"]["code"] == "diagnostic_failure"


def test_lookup_by_idempotency_key_on_the_inhouse_backend(server, http):
    def code(r):
        return r.status_code, r.json()["error"]["code"]

    backend = HttpBackend(server.url, TOKEN)
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "k"}, idempotency_key="serve-lookup-1")
    done = backend.wait(job.id, EVENT_TIMEOUT)
    found = http.get("/v1/jobs", params={"idempotency_key": "serve-lookup-1"})
    assert found.status_code == 200 and found.json() == http.get(f"/v1/jobs/{job.id}").json()
    assert backend.find_by_idempotency_key("serve-lookup-1", kind="diagnostic") == done
    assert backend.find_by_idempotency_key("serve-lookup-missing") is None
    assert code(http.get("/v1/jobs", params={"idempotency_key": "serve-lookup-missing"})) == (404, "not_found")
    assert code(http.get("/v1/jobs", params={"idempotency_key": "serve-lookup-1", "kind": "render_video"})) == (404, "not_found")
    assert code(http.get("/v1/jobs", params={"idempotency_key": ""})) == (422, "validation_error")
    assert code(http.get("/v1/jobs", params={"idempotency_key": "x" * 201})) == (422, "validation_error")
    assert code(httpx.get(f"{server.url}/v1/jobs", params={"idempotency_key": "serve-lookup-1"})) == (401, "unauthorized")
    live = backend.submit("diagnostic", {"action": "sleep", "seconds": 30, "steps": 30}, idempotency_key="serve-lookup-2")
    assert backend.find_by_idempotency_key("serve-lookup-2").id == live.id  # a live job, before it finishes
    assert backend.cancel(live.id).status.value == "cancelled"
    assert backend.find_by_idempotency_key("serve-lookup-2").status.value == "cancelled"
    backend.close()


def test_capacity_429_with_retry_after_and_stall_while_health_answers(server, http):
    backend = HttpBackend(server.url, TOKEN)
    long = backend.submit("diagnostic", {"action": "sleep", "seconds": 60, "steps": 60})
    stall = backend.submit("diagnostic", {"action": "stall", "seconds": 60})
    with pytest.raises(CapabilityError) as full:
        backend.submit("diagnostic", {})
    assert (full.value.code, full.value.http_status, full.value.retryable) == ("capacity", 429, True)
    assert full.value.retry_after >= 1
    r = http.post("/v1/jobs", json={"kind": "diagnostic", "input": {}})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1

    # the stalled job is killed by the watchdog; meanwhile the server keeps answering
    done = threading.Event()
    healthy = []

    def probe():
        with httpx.Client(base_url=server.url, timeout=5) as c:
            while not done.is_set():
                healthy.append(c.get("/health").status_code)
                done.wait(0.05)

    t = threading.Thread(target=probe)
    t.start()
    try:
        stalled = backend.wait(stall.id, EVENT_TIMEOUT)
    finally:
        done.set()
        t.join()
    assert stalled.status.value == "failed" and stalled.error.code == "stalled"
    assert healthy and set(healthy) == {200}
    assert backend.cancel(long.id).status.value == "cancelled"
    backend.close()


def test_fault_injection_over_http(server, http):
    assert http.post("/v1/_faults", json={"mode": "refuse_next_n", "n": 1}).json()["remaining"] == 1
    with pytest.raises(httpx.TransportError):
        http.post("/v1/jobs", json={"kind": "diagnostic", "input": {}})
    assert http.post("/v1/jobs", json={"kind": "diagnostic", "input": {}}).status_code == 202

    http.post("/v1/_faults", json={"mode": "stall", "n": 1, "stall_s": 20})
    with pytest.raises(httpx.ReadTimeout):
        http.post("/v1/diagnostic", json={}, timeout=httpx.Timeout(5.0, read=0.5))
    assert http.get("/health").status_code == 200
    assert http.post("/v1/diagnostic", json={}).json()["success"] is True

    http.post("/v1/_faults", json={"mode": "fail"})
    r = http.post("/v1/jobs", json={"kind": "diagnostic", "input": {}})
    assert r.status_code == 503 and r.json()["error"] == {"code": "upstream_unavailable", "message": r.json()["error"]["message"], "retryable": True}


def test_metrics_expose_counters_after_jobs(server, http):
    http.post("/v1/diagnostic", json={})
    text = httpx.get(f"{server.url}/metrics").text
    invocations = [line for line in text.splitlines() if line.startswith("canvascast_invocations_total{")]
    assert invocations and 'kind="diagnostic"' in invocations[0] and float(invocations[0].split()[-1]) >= 1
    assert 'canvascast_duration_seconds_count{backend="inhouse",kind="diagnostic"}' in text
    assert "canvascast_queue_seconds_bucket" in text
    assert 'canvascast_errors_total{backend="inhouse",code="diagnostic_failure",kind="diagnostic"}' in text
    assert 'canvascast_cost_usd_total{backend="inhouse",kind="diagnostic"}' in text
    assert 'canvascast_capacity_free{backend="inhouse",kind="diagnostic"}' in text


def test_sigkill_mid_job_then_restart_reports_interrupted(server):
    backend = HttpBackend(server.url, TOKEN)
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 60, "steps": 60}, idempotency_key="crash-1")
    running = next(j for j in backend.events(job.id, EVENT_TIMEOUT) if j.status.value == "running")
    assert running.id == job.id
    backend.close()
    server.kill()  # SIGKILL the server and its workers mid-job
    server.start()  # same port, same data dir
    print(f"\nrestarted, healthy after {server.healthy_after_s:.3f} s")
    r = httpx.get(f"{server.url}/v1/jobs/{job.id}", headers=AUTH)
    assert r.status_code == 200
    after = Job.model_validate(r.json())
    assert after.status.value == "failed"
    assert after.error is not None and after.error.code == "interrupted" and after.error.retryable is True
    by_key = httpx.get(f"{server.url}/v1/jobs", params={"idempotency_key": "crash-1"}, headers=AUTH)
    assert by_key.status_code == 200 and by_key.json() == r.json()  # keys live in the registry: they survive restarts
    again = httpx.post(f"{server.url}/v1/diagnostic", json={}, headers=AUTH, timeout=EVENT_TIMEOUT)
    assert again.json()["success"] is True  # and the restarted server serves


def test_serve_refuses_production_without_token(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPUTE_", "CANVASCAST_"))}
    env.update({"CANVASCAST_ENV": "production", "CANVASCAST_DATA_DIR": str(tmp_path)})
    r = subprocess.run([sys.executable, "-m", "modal_functions.cli", "serve", "--port", "1"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "COMPUTE_TOKEN" in r.stderr


def test_port_flag_reaches_signed_urls(tmp_path, modal_toml):
    """`serve --port P` with a different COMPUTE_PORT: the artifact URLs it signs point at P."""
    from modal_functions.api.server_process import free_port

    port = free_port()
    s = ServerProcess(tmp_path, TOKEN, port=port, modal_toml=modal_toml, env={"COMPUTE_PORT": "1"},
                      args=["--kinds", "diagnostic", "--port", str(port), "--no-access-log"])
    s.start()
    try:
        with httpx.Client(base_url=s.url, headers=AUTH, timeout=EVENT_TIMEOUT) as c:
            r = c.post("/v1/artifacts?ext=txt", content=b"hello", headers={"content-type": "text/plain"})
            assert r.status_code in (200, 201), r.text
            assert r.json()["url"].startswith(f"http://127.0.0.1:{port}/"), r.json()["url"]
    finally:
        s.stop()


def test_a_server_started_to_exit_with_its_parent_does_when_the_parent_is_killed(tmp_path, modal_toml):
    """CANVASCAST_EXIT_WITH_PARENT=1 (the worker's tests and the demo set it): a runner killed by
    SIGKILL or Ctrl-C used to leave the server holding its port and data dir."""
    import os
    import subprocess
    import sys

    from modal_functions.api.server_process import free_port
    from modal_functions.runtime.testing import eventually

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPUTE_", "CANVASCAST_"))}
    env.update({"CANVASCAST_DATA_DIR": str(tmp_path), "CANVASCAST_MODAL_TOML": str(modal_toml), "CANVASCAST_EXIT_WITH_PARENT": "1",
                "COMPUTE_TOKEN": TOKEN})
    parent_code = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'modal_functions.cli', 'serve', '--port', '{port}', '--kinds', 'diagnostic',"
        " '--no-access-log'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(p.pid, flush=True)\n"
        "p.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=env, stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())

    def healthy():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually(healthy, timeout=EVENT_TIMEOUT)
        parent.kill()  # SIGKILL: the parent runs no cleanup at all
        parent.wait()

        def gone():
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                return True
            with open(f"/proc/{server_pid}/stat") as f:  # exited but not yet reaped by init
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"

        eventually(gone, timeout=EVENT_TIMEOUT)
        eventually(lambda: not healthy(), timeout=EVENT_TIMEOUT)
    finally:
        try:
            os.kill(server_pid, 9)
        except ProcessLookupError:
            pass


def test_startup_problems_are_one_line_and_exit_2(server, tmp_path):
    """A second server on a data dir in use, a port in use, an unknown kind: one plain line each
    (they were JSON log lines inside uvicorn's startup, and exit 3)."""
    import os
    import subprocess
    import sys

    def serve(data_dir, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPUTE_", "CANVASCAST_"))}
        env.update({"CANVASCAST_DATA_DIR": str(data_dir), "CANVASCAST_MODAL_TOML": str(server.modal_toml)})
        r = subprocess.run([sys.executable, "-m", "modal_functions.cli", "serve", *args], env=env, capture_output=True, text=True,
                           timeout=60)
        plain = [line for line in r.stderr.splitlines() if line.startswith("canvascast serve:")]
        return r.returncode, plain

    code, lines = serve(server.data_dir, "--port", "1", "--kinds", "diagnostic")
    assert code == 2 and len(lines) == 1 and "[data_dir_in_use]" in lines[0]
    code, lines = serve(tmp_path / "other", "--port", str(server.port), "--kinds", "diagnostic")
    assert code == 2 and len(lines) == 1 and "[cannot_listen]" in lines[0]
    code, lines = serve(tmp_path / "other", "--kinds", "bogus")
    assert code == 2 and len(lines) == 1 and "[unknown_kind]" in lines[0]
