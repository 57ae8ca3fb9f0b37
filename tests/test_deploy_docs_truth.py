"""What the README (and docs/modal.md, examples/README.md) tell people to run, checked against
the code: the Makefile targets, the compute plane's environment table, the `canvascast`
commands the docs quote, the Modal deploy steps, the Railway split-role service and the
URLs docker-compose.yml hands out. Offline and quick: `make -n`, argparse, YAML, AST.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MODAL_DOC = ROOT / "docs" / "modal.md"
EXAMPLES = ROOT / "examples" / "README.md"


def _section(text: str, start: str, stop_rx: str) -> str:
    i = text.index(start)
    m = re.compile(stop_rx, re.M).search(text, i + len(start))
    return text[i: m.start() if m else len(text)]


# ## The Makefile: every target that runs a tool installs the machine first


# The first line of the `system` recipe: present in `make -n <target>` only if the target
# (transitively) installs the Debian packages, python3-venv and Node before it runs.
SYSTEM_RECIPE = "for bin in chromium ffmpeg"


@pytest.mark.parametrize("target", ["demo", "test", "serve", "bench", "types"])
def test_every_tool_running_target_installs_the_system_first(target):
    """The Makefile's promise: on a fresh Debian clone any target gets there. `make types` used
    to depend on `python node` only: no python3-venv and no npm there, so it failed first."""
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), target],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert SYSTEM_RECIPE in out.stdout, f"`make {target}` does not install the Debian packages and Node first"


def test_a_removed_venv_is_rebuilt_although_its_stamp_is_there(tmp_path):
    """`rm -rf .venv && make test`: the python stamp (keyed on pyproject.toml only) outlived the
    venv, so `make` skipped the install and every later step failed on a missing .venv/bin/python.
    A `python3` stub on PATH stands in for the real one: it records the call and fails, so
    nothing is installed; what matters is that the target tries to create the venv."""
    import hashlib
    import os

    stamps = tmp_path / "stamps"
    stamps.mkdir()
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (stamps / f"python-{digest}").touch()
    calls = tmp_path / "python3.calls"
    stub = tmp_path / "bin" / "python3"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stub.parent}:{os.environ['PATH']}"}
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "python",
                    f"VENV={tmp_path / 'venv'}", f"STAMPS={stamps}"],
                   capture_output=True, text=True, env=env, timeout=120)
    assert calls.exists() and "-m venv" in calls.read_text(), "make python did nothing: the venv is gone but its stamp stayed"
    assert not (tmp_path / "venv").exists()


def test_readme_names_the_targets_that_run_install_first():
    readme = README.read_text()
    m = re.search(r"`make install` \([^)]*;(.*?)run it first\)", readme, re.S)
    assert m, "README: the sentence naming the targets that run `make install` first moved"
    named = set(re.findall(r"`(\w+)`", m.group(1)))
    makefile = (ROOT / "Makefile").read_text()
    runs_install = {t for t in re.findall(r"^(\w+):\s*install\b", makefile, re.M)}
    assert named == runs_install, f"README says {sorted(named)}, the Makefile runs install for {sorted(runs_install)}"


# ## The compute plane's environment: README's Configuration section both ways


def _compute_reads() -> set[str]:
    """Every variable modal_functions reads: os.environ.get/[...]/getenv and Settings aliases."""
    names: set[str] = set()
    for f in (ROOT / "modal_functions").rglob("*.py"):
        if "node_modules" in f.parts:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call):
                fn = ast.unparse(node.func)
                if fn in ("os.environ.get", "os.getenv", "os.environ.setdefault") and node.args \
                        and isinstance(node.args[0], ast.Constant):
                    names.add(node.args[0].value)
                names |= {kw.value.value for kw in node.keywords
                          if kw.arg == "alias" and isinstance(kw.value, ast.Constant)}
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" \
                    and isinstance(node.slice, ast.Constant) and isinstance(node.ctx, ast.Load):
                names.add(node.slice.value)
    return {n for n in names if re.fullmatch(r"[A-Z][A-Z0-9_]+", n)}


def test_compute_env_vars_are_documented_both_ways():
    reads = _compute_reads()
    assert {"COMPUTE_TOKEN", "RENDER_PARALLEL", "ALIGN_DEVICE", "CANVASCAST_MODAL_TOML"} <= reads, "the scan found too little"
    config = _section(README.read_text(), "## Configuration", r"^## ")
    mentioned = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", config))
    assert not reads - mentioned, f"read by the compute plane, missing from README's Configuration: {sorted(reads - mentioned)}"
    table = {v for row in config.splitlines() if row.startswith("| `")
             for v in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert table and not table - reads, f"README's Configuration table documents variables nothing reads: {sorted(table - reads)}"


# ## The `canvascast` commands the docs quote parse as written


def _quoted_commands(path: Path) -> set[str]:
    """`canvascast ...` commands in fenced blocks and inline code, without synopsis syntax."""
    text = path.read_text()
    found: set[str] = set()
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            found.add(line.split(" #")[0].strip())
    # Inline, only a command given with options (`canvascast render` alone names the command).
    found |= {s for s in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S)) if " -" in s}
    out = set()
    for s in found:
        m = re.search(r"(?:^|\s)(?:\.venv/bin/)?(canvascast \S.*)$", s)
        if m and not re.search(r"\[|\||\.\.\.|\b[A-Z]{3,}\b", m.group(1)):
            out.add(m.group(1))
    return out


def test_every_quoted_canvascast_command_parses():
    from modal_functions.cli import build_parser

    commands = set().union(*(_quoted_commands(p) for p in (README, MODAL_DOC, EXAMPLES)))
    # The in-house deploy line of the README is split over two lines; quoted whole here.
    commands.add("canvascast serve --host 0.0.0.0")
    assert "canvascast modal upload-weights --remote" in commands, "the scan found too little"
    for cmd in sorted(commands):
        argv = shlex.split(cmd)[1:]
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # argparse's error exit
            pytest.fail(f"{cmd!r} does not parse (exit {e.code})")
        assert callable(args.func), cmd


# ## Modal: the deploy steps of the README and docs/modal.md


def _secret_create_keys(doc: str) -> tuple[str, list[str]]:
    """The Secret's name and its keys, in order, from the doc's `modal secret create` command."""
    m = re.search(r"modal secret create .*?(?<!\\)\n", doc, re.S)
    assert m, "no `modal secret create` line"
    argv = shlex.split(m.group(0).replace("\\\n", " "))
    return argv[3], [a.split("=", 1)[0] for a in argv[4:]]


@pytest.mark.parametrize("doc", [README, MODAL_DOC], ids=lambda p: p.name)
def test_secret_create_names_the_app_secret_and_its_required_keys_first(doc):
    """README: "The Secret's first four keys are required": they are REQUIRED_SECRET_KEYS."""
    from modal_functions.modal_layer.app import REQUIRED_SECRET_KEYS

    name, keys = _secret_create_keys(doc.read_text())
    app = tomllib.loads((ROOT / "modal.toml").read_text())["app"]
    assert name == app["secret"], f"the Secret is {app['secret']!r} in modal.toml, {name!r} in {doc.name}"
    assert keys[: len(REQUIRED_SECRET_KEYS)] == REQUIRED_SECRET_KEYS, keys
    assert not set(keys) - _compute_reads(), f"{doc.name} puts keys in the Secret nothing reads"


def test_deploy_module_builds_offline_and_upload_weights_takes_model():
    """`modal deploy -m modal_functions.modal_layer.app` and
    `modal run -m modal_functions.modal_layer.app::upload_weights --model large-v3` (docs/modal.md)."""
    import modal

    import modal_functions.modal_layer.app as deployed

    for doc in (README, MODAL_DOC):
        assert "modal deploy -m modal_functions.modal_layer.app" in doc.read_text(), doc.name
    assert isinstance(deployed.app, modal.App)
    assert "modal_functions.modal_layer.app::upload_weights --model large-v3" in MODAL_DOC.read_text()
    # `modal run` turns the function's parameters into options: `--model` needs `model`.
    tree = ast.parse((ROOT / "modal_functions" / "modal_layer" / "app.py").read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upload_weights")
    assert "model" in [a.arg for a in fn.args.args]


# ## Railway: a worker-only service builds the same image and drains as long


def test_split_role_service_is_told_the_dockerfile_and_drain_railway_json_would_give():
    """A `WORKER_ROLE=worker` service runs without railway.json (no /health). Railway then looks
    for a Dockerfile at the repo root (there is none: it would build the repo with Railpack) and
    gives a redeploy's SIGTERM its default drain, not railway.json's: the README must say which
    service variables replace both."""
    railway = json.loads((ROOT / "apps" / "worker" / "railway.json").read_text())
    readme = README.read_text()
    i = readme.index("WORKER_ROLE=worker")
    para = readme[readme.rfind("\n\n", 0, i): readme.find("\n\n", i)]
    assert f"RAILWAY_DOCKERFILE_PATH={railway['build']['dockerfilePath']}" in para, para
    assert f"RAILWAY_DEPLOYMENT_DRAINING_SECONDS={railway['deploy']['drainingSeconds']}" in para, para


# ## docker-compose.yml: the URLs the stack hands out open where they are used


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR:-default}` / `${VAR}` (enough for this file)."""
    def one(m: re.Match) -> str:
        name, default = m.group(1), m.group(3) or ""
        return env.get(name) or default
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}", one, value)


@pytest.mark.parametrize("env", [{}, {"COMPUTE_PORT": "9001"}], ids=["defaults", "COMPUTE_PORT=9001"])
def test_compose_render_urls_open_on_the_host(env):
    """The worker signs the render's video and caption URLs for whoever asked, on this host. Its
    COMPUTE_PUBLIC_URL was http://compute:8000, a name only the containers resolve (and ports are
    published on 127.0.0.1 only): every URL `docker compose up` handed out failed to open."""
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compute, worker = spec["services"]["compute"], spec["services"]["worker"]
    published = [_interpolate(p, env).split(":") for p in compute["ports"]]
    host_ports = {(ip, int(port)) for ip, port, container in published if container == "8000"}
    url = urlsplit(_interpolate(worker["environment"]["COMPUTE_PUBLIC_URL"], env))
    assert (url.hostname, url.port) in host_ports, f"{url.geturl()} is not where the compute plane is published: {host_ports}"
    # The compute plane's own URLs are fetched by the containers (render inputs): the service name.
    assert urlsplit(compute["environment"]["COMPUTE_PUBLIC_URL"]).hostname == "compute"
