"""docker-compose.yml: compute, worker and postgres; every variable it reads is documented in its header."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
yaml = pytest.importorskip("yaml")  # PyYAML arrives with faster-whisper (ctranslate2)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def test_services_and_documented_variables():
    text = COMPOSE.read_text()
    spec = yaml.safe_load(text)
    services = spec["services"]
    assert set(services) >= {"compute", "worker", "postgres"}
    compute = services["compute"]
    assert compute["command"][:2] == ["canvascast", "serve"]
    for service in services.values():
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", [])), "publish on loopback only"
    assert compute["environment"]["COMPUTE_TOKEN"]
    assert services["worker"]["build"] == {"context": ".", "dockerfile": "apps/worker/Dockerfile"}
    assert services["worker"]["environment"]["COMPUTE_URL"] == "http://compute:8000"
    assert services["worker"]["depends_on"]["compute"]["condition"] == "service_healthy"
    assert "postgres" in services["worker"]["environment"]["DATABASE_URL"]

    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    undocumented = sorted(v for v in used if not re.search(rf"^#\s+{v}\s", header, re.M))
    assert not undocumented, f"variables used but not documented in the header: {undocumented}"


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        probe = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True, timeout=20)
        # Compose v1 (end of life) predates the Compose Specification's dockerfile_inline and top-level name.
        if probe.returncode == 0 and not probe.stdout.strip().startswith("1."):
            return ["docker-compose"]
    return None


def test_docker_compose_config():
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("no Compose v2 here (`docker compose` or `docker-compose` >= 2)")
    r = subprocess.run([*cmd, "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
