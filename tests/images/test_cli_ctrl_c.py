"""Ctrl-C on `canvascast images` stops the batch: no prompt waits out its backoff or calls again.

A real `canvascast images` process talks to the fake Gemini server, gets 429s with a
55 s RetryInfo hint (under the 60 s we wait out), and is sent SIGINT while its prompts
wait to retry. Before the fix it printed "interrupted" and then sat out the whole hint
(the batch's threads are joined at exit) before it exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from fake_genai_server import error

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_during_a_retry_wait_exits_without_calling_again(fake, tmp_path):
    fake.push(error(429, "quota", retry_delay="55s"), error(429, "quota", retry_delay="55s"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGE_", "GEMINI_", "GOOGLE_"))}
    env |= {
        "CANVASCAST_DATA_DIR": str(tmp_path / "data"), "ARTIFACT_STORE": "local", "GEMINI_API_KEY": "test-key",
        "IMAGE_API_BASE_URL": fake.url, "IMAGE_CONCURRENCY": "2", "IMAGE_TIMEOUT_S": "20",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "modal_functions.cli", "images", "-p", "a lighthouse", "-p", "a fox", "-o", str(tmp_path / "out")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as a terminal starts it: a run whose shell ignores SIGINT (a background `make test`)
        # hands that on, and Python then never raises KeyboardInterrupt for it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        with fake._idle:  # both prompts have had their 429 answered: both are about to wait 55 s
            assert fake._idle.wait_for(lambda: len(fake.requests) >= 2 and fake.in_flight == 0, timeout=60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)  # far under the 55 s wait: it must not be sat out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert len(fake.requests) == 2, f"{len(fake.requests) - 2} call(s) sent after Ctrl-C"
    assert not list((tmp_path / "data").rglob("*.png")), "images generated after Ctrl-C"
