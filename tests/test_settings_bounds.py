"""Settings refuse numbers that would misbehave later, and `canvascast serve` says which one."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from modal_functions.settings import Settings

BAD = [
    ("COMPUTE_SYNC_WAIT_S", "-5"),
    ("COMPUTE_SYNC_WAIT_S", "nan"),
    ("COMPUTE_MAX_BODY_BYTES", "-1"),
    ("COMPUTE_MAX_UPLOAD_BYTES", "0"),
    ("ARTIFACT_RETENTION_DAYS", "-1"),
    ("ARTIFACT_RETENTION_DAYS", "inf"),
    ("FETCH_MAX_BYTES", "0"),
    ("FETCH_TIMEOUT_S", "0"),
    ("FETCH_TIMEOUT_S", "inf"),
    ("IMAGE_TIMEOUT_S", "nan"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_number_is_refused_naming_the_setting(name, value):
    with pytest.raises(ValidationError) as e:
        Settings(_env_file=None, **{name: value})
    assert name in str(e.value)


def test_the_defaults_and_edge_values_are_accepted():
    s = Settings(_env_file=None, COMPUTE_SYNC_WAIT_S="0", ARTIFACT_RETENTION_DAYS="0", FETCH_TIMEOUT_S="0.5")
    assert (s.sync_wait_s, s.retention_days, s.fetch_timeout_s) == (0.0, 0.0, 0.5)
    assert Settings(_env_file=None).sync_wait_s == 120.0


def test_serve_stops_with_the_setting_named(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "modal_functions.cli", "serve", "--port", "1"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CANVASCAST_DATA_DIR": str(tmp_path / "d"),
             "FETCH_TIMEOUT_S": "inf"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert "error [config]: FETCH_TIMEOUT_S" in proc.stderr
