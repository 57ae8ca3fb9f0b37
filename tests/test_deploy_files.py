"""The production deploy path, checked offline: the worker's image (apps/worker/Dockerfile),
its Railway config (apps/worker/railway.json), .dockerignore, the Supabase CLI config and seed,
and what the README's Deploy section tells people to put in DATABASE_URL.

Nothing hosted is reachable here, so Railway and Supabase are stood in for by what they do:
the image is assembled from the Dockerfile's own COPY lines and started with its own CMD, ENV
and USER (unprivileged), a PORT as Railway injects it and a SIGTERM as a redeploy sends it;
the migrations and seed run on a private PostgreSQL 15 with TLS on, a self-signed certificate
standing in for Supabase's (whose root CA is not in Node's trust store either).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "apps" / "worker"
DOCKERFILE = WORKER / "Dockerfile"
RAILWAY = WORKER / "railway.json"
DOCKERIGNORE = ROOT / ".dockerignore"
CONFIG_TOML = ROOT / "supabase" / "config.toml"
MIGRATIONS = ROOT / "supabase" / "migrations"
SEED = ROOT / "supabase" / "seed.sql"


# ## Reading the Dockerfile


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


class Image:
    """What the Dockerfile says: files copied (container path -> repo path), ENV, USER, CMD."""

    def __init__(self, path: Path = DOCKERFILE):
        self.steps = _instructions(path.read_text())
        self.env: dict[str, str] = {}
        self.copies: list[tuple[str, str]] = []  # (repo-relative source, absolute destination)
        self.user = "root"
        self.workdir = "/"
        self.cmd: list[str] | None = None
        self.runs: list[str] = []
        for word, rest in self.steps:
            if word == "WORKDIR":
                self.workdir = rest if rest.startswith("/") else os.path.join(self.workdir, rest)
            elif word == "ENV":
                for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', rest):
                    self.env[m.group(1)] = m.group(2).strip('"')
            elif word == "COPY":
                assert not rest.startswith("--from"), "single-stage image expected"
                parts = [p for p in rest.split() if not p.startswith("--")]
                *sources, dest = parts
                dest_abs = dest if dest.startswith("/") else os.path.normpath(os.path.join(self.workdir, dest))
                if dest.endswith("/") or dest in (".", "./") or len(sources) > 1:
                    self.copies += [(s, os.path.join(dest_abs, os.path.basename(s))) for s in sources]
                else:
                    self.copies += [(s, dest_abs) for s in sources]
            elif word == "USER":
                self.user = rest
            elif word == "RUN":
                self.runs.append(rest)
            elif word == "CMD":
                self.cmd = json.loads(rest)


def _dockerignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for these patterns: the last matching pattern wins; `!` re-includes;
    a pattern matching a parent directory excludes everything below it."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        variants = {p, p[3:]} if p.startswith("**/") else {p}
        if any(fnmatch.fnmatchcase(pre, v) for pre in prefixes for v in variants):
            ignored = not neg
    return ignored


def _dockerignore_patterns() -> list[str]:
    return [l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l.strip() and not l.strip().startswith("#")]


def test_every_file_the_image_copies_exists_and_reaches_the_build_context():
    image = Image()
    patterns = _dockerignore_patterns()
    assert image.copies, "the Dockerfile copies nothing?"
    for src, _ in image.copies:
        path = ROOT / src
        assert path.exists(), f"COPY {src}: not in the repository (the build would fail)"
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file() and "node_modules" not in f.parts]
        assert files, f"COPY {src}: empty"
        for f in files:
            rel = f.relative_to(ROOT).as_posix()
            assert not _dockerignored(rel, patterns), f"{rel} is copied by the Dockerfile but excluded by .dockerignore"
    # What the worker reads at run time from outside apps/worker/src must be in the image.
    dests = {d for _, d in image.copies}
    for needed in ("/app/supabase/migrations", "/app/packages/shared-types/schema", "/app/apps/worker/src"):
        assert needed in dests, f"{needed} is read at run time but not copied into the image"


def test_dockerignore_keeps_secrets_and_bulk_out_of_the_build_context():
    patterns = _dockerignore_patterns()
    for rel in (".env", ".env.production", "apps/worker/.env", "apps/worker/node_modules/pg/package.json",
                ".git/HEAD", ".venv/bin/python", ".canvascast/store/x", "modal_functions/__pycache__/x.pyc"):
        assert _dockerignored(rel, patterns), f"{rel} would be sent to the image builder"


def test_image_runs_unprivileged_and_starts_node_directly():
    image = Image()
    assert image.user not in ("root", "0", "0:0", ""), "the worker image must not run as root"
    assert image.cmd, "CMD must be in exec form (a JSON array), or a shell becomes PID 1 and eats SIGTERM"
    assert image.cmd[0] == "node", f"PID 1 must be node itself (SIGTERM on redeploy), not {image.cmd[0]!r}"
    # The data dir is the only place the unprivileged user writes; it must own it.
    data = image.env.get("CANVASCAST_DATA_DIR")
    assert data and any(re.search(rf"chown\s+\S+\s+{re.escape(data)}\b", r) for r in image.runs), \
        "the data dir must be chowned to the image's user"
    assert any("npm ci" in r and "--omit=dev" in r for r in image.runs), "install from the lock, without dev dependencies"
    pkg = json.loads((WORKER / "package.json").read_text())
    assert "tsx" in pkg["dependencies"], "CMD imports tsx, and npm ci --omit=dev drops devDependencies"


# ## railway.json against Railway's config-as-code reference

# https://docs.railway.com/config-as-code/reference (build / deploy keys that exist today;
# deploy.numReplicas was removed from it as deprecated in favour of multiRegionConfig).
RAILWAY_BUILD_KEYS = {"builder", "watchPatterns", "buildCommand", "dockerfilePath", "railpackVersion",
                      "nixpacksConfigPath", "nixpacksPlan", "nixpacksVersion"}
RAILWAY_DEPLOY_KEYS = {"startCommand", "preDeployCommand", "multiRegionConfig", "healthcheckPath", "healthcheckTimeout",
                       "restartPolicyType", "restartPolicyMaxRetries", "cronSchedule", "overlapSeconds", "drainingSeconds"}


def test_railway_json_is_valid_config_as_code():
    cfg = json.loads(RAILWAY.read_text())
    assert cfg["$schema"] == "https://railway.com/railway.schema.json"
    build, deploy = cfg["build"], cfg["deploy"]
    assert set(build) <= RAILWAY_BUILD_KEYS, set(build) - RAILWAY_BUILD_KEYS
    assert set(deploy) <= RAILWAY_DEPLOY_KEYS, set(deploy) - RAILWAY_DEPLOY_KEYS
    assert build["builder"] in ("DOCKERFILE", "RAILPACK")
    assert build["builder"] == "DOCKERFILE" and (ROOT / build["dockerfilePath"]) == DOCKERFILE
    # Railway's parser wants numbers here ("Expected number, received string").
    for key in ("healthcheckTimeout", "restartPolicyMaxRetries", "overlapSeconds", "drainingSeconds"):
        if key in deploy:
            assert isinstance(deploy[key], int) and not isinstance(deploy[key], bool), f"deploy.{key} must be a JSON number"
    assert deploy["restartPolicyType"] in ("ON_FAILURE", "ALWAYS", "NEVER")
    # The default is 0 s between SIGTERM and SIGKILL: the worker needs a few to hand its renders back.
    assert deploy.get("drainingSeconds", 0) >= 10
    # No start command: the image's CMD (node as PID 1) runs. One that wraps node in npm or a shell
    # would keep SIGTERM from the worker.
    start = deploy.get("startCommand")
    assert start is None or start.split()[0] == "node", f"startCommand {start!r} does not start node directly"


def test_railway_healthcheck_path_is_served_without_a_token():
    path = json.loads(RAILWAY.read_text())["deploy"]["healthcheckPath"]
    server = (WORKER / "src" / "http" / "server.ts").read_text()
    assert re.search(rf'app\.get\(\s*"{re.escape(path)}"', server), f"{path} is not a route of the worker's API"


def _watched(rel: str, patterns: list[str]) -> bool:
    hit = False
    for pat in patterns:
        neg = pat.startswith("!")
        p = (pat[1:] if neg else pat).lstrip("/")
        rx = re.escape(p).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if re.fullmatch(rx, rel) or re.fullmatch(rx.rstrip("/") + "/.*", rel):
            hit = not neg
    return hit


def test_watch_patterns_cover_everything_baked_into_the_image():
    patterns = json.loads(RAILWAY.read_text())["build"]["watchPatterns"]
    inputs = [DOCKERFILE.relative_to(ROOT).as_posix(), ".dockerignore"]
    for src, _ in Image().copies:
        p = ROOT / src
        inputs += [p.relative_to(ROOT).as_posix()] if p.is_file() else [
            f.relative_to(ROOT).as_posix() for f in p.rglob("*") if f.is_file()]
    missed = [rel for rel in inputs if not _watched(rel, patterns)]
    assert not missed, f"changes to these would not redeploy the worker: {missed[:5]}"


# ## Environment variables: what the worker reads vs what the docs say


def _worker_reads() -> set[str]:
    names: set[str] = set()
    for f in (WORKER / "src").rglob("*.ts"):
        if f.name.endswith(".test.ts"):
            continue
        text = f.read_text()
        names |= set(re.findall(r"\benv\.([A-Z][A-Z0-9_]+)", text))
        names |= set(re.findall(r'\benv\[\s*"([A-Z][A-Z0-9_]+)"\s*\]', text))
        names |= set(re.findall(r'\(\s*env\s*,\s*"([A-Z][A-Z0-9_]+)"', text))  # num(env, "X"), httpUrl(env, "X"), ...
    return names - {"NODE_TEST_CONTEXT"}  # node:test's own marker


def _section(text: str, start: str, stop_rx: str) -> str:
    i = text.index(start)
    m = re.compile(stop_rx, re.M).search(text, i + len(start))
    return text[i: m.start() if m else len(text)]


def test_worker_env_vars_are_documented_both_ways():
    reads = _worker_reads()
    assert {"DATABASE_URL", "PORT", "WORKER_HOST", "SUPABASE_URL"} <= reads, "the scan found too little"
    env_doc = _section((WORKER / "README.md").read_text(), "## Environment", r"^## ")
    mentioned = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", env_doc))
    assert not reads - mentioned, f"read by the worker, missing from apps/worker/README.md: {sorted(reads - mentioned)}"
    table_vars = {v for row in env_doc.splitlines() if row.startswith("| `")
                  for v in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert table_vars and not table_vars - reads, f"documented but never read: {sorted(table_vars - reads)}"
    railway = _section((ROOT / "README.md").read_text(), "**Worker (Railway).**", r"^\*\*")
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})(?:=[^`]*)?`", railway))
    assert named and not named - reads, f"README's Railway section names variables the worker never reads: {sorted(named - reads)}"
    image_env = set(Image().env) - {"NODE_ENV"}
    assert not image_env - reads, f"the Dockerfile sets variables the worker never reads: {sorted(image_env - reads)}"


def test_compose_worker_env_is_read_by_the_worker():
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = set(spec["services"]["worker"]["environment"])
    assert not env - _worker_reads(), sorted(env - _worker_reads())


def test_compose_compute_image_renders_with_the_fonts_and_node_of_in_house():
    """The compose `compute` image renders like `make install` does: the Makefile's fonts (the
    composition's fallbacks for Cyrillic, CJK, Indic, Thai...) and the Node major of the Modal image."""
    yaml = pytest.importorskip("yaml")
    from modal_functions.modal_layer.image import NODE_MAJOR

    dockerfile = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["compute"]["build"]["dockerfile_inline"]
    makefile = re.search(r"^APT_PKGS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    fonts = {p for p in makefile if p.startswith("fonts-")}
    assert fonts and fonts <= set(dockerfile.split()), fonts - set(dockerfile.split())
    assert re.findall(r"nodesource\.com/setup_(\d+)\.x", dockerfile) == [NODE_MAJOR]


# ## supabase/config.toml against the current CLI's template

# Keys of the sections this project uses, from supabase/cli pkg/config/templates/config.toml.
CLI_KEYS = {
    "": {"project_id", "api", "db", "realtime", "studio", "inbucket", "storage", "auth", "edge_runtime", "analytics",
         "experimental"},
    "api": {"enabled", "port", "schemas", "extra_search_path", "max_rows", "tls"},
    "db": {"port", "shadow_port", "major_version", "pooler", "migrations", "seed", "network_restrictions", "vault"},
    "db.seed": {"enabled", "sql_paths"},
    "realtime": {"enabled", "ip_version", "max_header_length"},
    "storage": {"enabled", "file_size_limit", "image_transformation", "buckets"},
    "storage.buckets.*": {"public", "file_size_limit", "allowed_mime_types", "objects_path"},
    "auth": {"enabled", "site_url", "additional_redirect_urls", "jwt_expiry", "enable_refresh_token_rotation",
             "refresh_token_reuse_interval", "enable_signup", "enable_anonymous_sign_ins", "enable_manual_linking",
             "minimum_password_length", "password_requirements", "rate_limit", "captcha", "email", "sms", "mfa",
             "external", "web3", "third_party", "oauth_server", "hook", "sessions", "signing_keys_path"},
}


def test_config_toml_uses_only_keys_the_cli_knows():
    cfg = tomllib.loads(CONFIG_TOML.read_text())

    def check(table: dict, where: str) -> None:
        allowed = CLI_KEYS.get(where)
        assert allowed is not None, f"[{where}] is not a section this test knows; add it from the CLI template"
        unknown = set(table) - allowed
        assert not unknown, f"[{where}] keys the Supabase CLI does not know: {sorted(unknown)}"
        for k, v in table.items():
            if isinstance(v, dict):
                sub = f"{where}.{k}" if where else k
                if where == "storage.buckets":
                    sub = "storage.buckets.*"
                if where == "storage" and k == "buckets":
                    for name, bucket in v.items():
                        check(bucket, "storage.buckets.*")
                    continue
                check(v, sub)

    check(cfg, "")
    for p in cfg["db"]["seed"]["sql_paths"]:
        assert (CONFIG_TOML.parent / p).is_file(), f"seed path {p} does not exist"
    assert isinstance(cfg["db"]["major_version"], int)
    assert set(cfg["storage"]["buckets"]) == {"artifacts", "renders"}, "the worker's and compute plane's default buckets"


# ## The image, started the way Railway starts it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _assemble(image: Image, root: Path) -> None:
    """The image's filesystem under `root`, from its COPY lines (node_modules from the checkout)."""
    for src, dest in image.copies:
        s, d = ROOT / src, root / dest.lstrip("/")
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d, ignore=shutil.ignore_patterns("node_modules", "*.test.ts"))
        else:
            shutil.copy2(s, d)
    # node_modules hard-linked, not symlinked: the image's user must reach it, and the checkout
    # may be a 0700 dir (a `git clone` into mktemp -d) that `nobody` cannot enter.
    shutil.copytree(WORKER / "node_modules", root / "app/apps/worker/node_modules", symlinks=True, copy_function=_link_or_copy)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem
        shutil.copy2(src, dst)


@pytest.mark.skipif(shutil.which("node") is None or not (WORKER / "node_modules" / "tsx").exists(),
                    reason="needs node and the worker's node_modules (make node)")
def test_image_serves_health_on_railway_port_and_drains_on_sigterm():
    tmp = Path(tempfile.mkdtemp(prefix="cc_deploy_image_"))  # not pytest's tmp_path: that is 0700 root's
    tmp.chmod(0o755)
    try:
        _run_image(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_image(tmp_path: Path) -> None:
    image = Image()
    root = tmp_path / "rootfs"
    _assemble(image, root)
    data = root / image.env["CANVASCAST_DATA_DIR"].lstrip("/")
    data.mkdir(parents=True)
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **image.env,
           "CANVASCAST_DATA_DIR": str(data),
           "PORT": str(port),                # Railway injects PORT; nothing sets WORKER_PORT
           "WORKER_TOKENS": "deploy-test-token:deploy_owner",
           "COMPUTE_URL": "http://127.0.0.1:9", "WARM_ENABLED": "0", "LOG_LEVEL": "warn",
           "WORKER_PGLITE_DIR": str(data / "worker-db")}  # PGlite on purpose (production refuses it by default)
    env.pop("WORKER_PORT", None)
    preexec = None
    if os.geteuid() == 0 and shutil.which("runuser"):
        # Run as an unprivileged user, like USER node: the code must need no write access.
        import pwd
        nobody = pwd.getpwnam("nobody")
        for p in [data, *data.rglob("*")]:
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
        env["HOME"] = str(data)

        def preexec():  # noqa: F811
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
    cwd = root / image.workdir.lstrip("/")
    assert cwd.is_dir(), f"WORKDIR {image.workdir} holds nothing the image copies"
    proc = subprocess.Popen(image.cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=preexec)
    try:
        deadline = time.time() + 60
        status = None
        while time.time() < deadline and proc.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-3000:]
        assert status == 200 and body["status"] == "ok", (status, body)
        # WORKER_HOST from the image: reachable over IPv6 too (Railway's private network).
        if socket.has_ipv6:
            status6, _ = _get(f"http://[::1]:{port}/health")
            assert status6 == 200
        # The contract's JSON Schema is in the image: a bad body is a 400, not a 500.
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/renders", data=b"{}", method="POST",
                                     headers={"content-type": "application/json", "authorization": "Bearer deploy-test-token",
                                              "idempotency-key": "deploy-test"})
        try:
            urllib.request.urlopen(req, timeout=5)
            code = 200
        except urllib.error.HTTPError as e:
            code = e.code
        assert code == 400, f"POST /v1/renders with {{}} answered {code}"
        # A redeploy: SIGTERM, then SIGKILL after drainingSeconds.
        draining = json.loads(RAILWAY.read_text())["deploy"]["drainingSeconds"]
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=draining)
        assert rc == 0, f"exit {rc} on SIGTERM"
        assert time.time() - t0 < draining
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ## Supabase Postgres stand-in: PostgreSQL 15 with TLS on


def _have_pg() -> bool:
    return (os.geteuid() == 0 and bool(shutil.which("runuser")) and bool(shutil.which("openssl"))
            and Path("/usr/lib/postgresql/15/bin/initdb").exists())


@pytest.fixture(scope="module")
def tls_postgres():
    """A private PostgreSQL 15 (not the shared cluster other tests use), TLS on with a
    self-signed certificate, trust auth on 127.0.0.1. Yields (port, psql(args) -> stdout)."""
    if not _have_pg():
        pytest.skip("needs root, runuser, openssl and PostgreSQL 15")
    import pwd
    pg = pwd.getpwnam("postgres")
    tmp = Path(tempfile.mkdtemp(prefix="cc_deploy_pg_"))
    os.chown(tmp, pg.pw_uid, pg.pw_gid)
    bin_ = Path("/usr/lib/postgresql/15/bin")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(tmp / "server.key"), "-out", str(tmp / "server.crt")], check=True, capture_output=True)
    for f in ("server.key", "server.crt"):
        os.chown(tmp / f, pg.pw_uid, pg.pw_gid)
    os.chmod(tmp / "server.key", 0o600)
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(bin_ / "initdb"), "-D", str(tmp / "data"), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, cwd=tmp)
    port = _free_port()
    opts = (f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on "
            f"-c ssl_cert_file={tmp}/server.crt -c ssl_key_file={tmp}/server.key")
    subprocess.run([*as_pg, str(bin_ / "pg_ctl"), "-D", str(tmp / "data"), "-o", opts, "-l", str(tmp / "log"), "-w", "start"],
                   check=True, capture_output=True, cwd=tmp)

    def psql(*args: str, db: str = "postgres", check: bool = True, file: Path | None = None) -> subprocess.CompletedProcess:
        # A script goes in on stdin, read by us: the checkout may be a 0700 dir the postgres
        # user cannot enter (a `git clone` into mktemp -d), and so is the cwd, hence cwd=tmp.
        return subprocess.run([*as_pg, "psql", "-h", str(tmp), "-p", str(port), "-U", "postgres", "-d", db,
                               "-v", "ON_ERROR_STOP=1", "-qtA", *args, *(["-f", "-"] if file else [])],
                              input=file.read_text() if file else None, cwd=tmp,
                              capture_output=True, text=True, check=check)

    try:
        yield port, psql
    finally:
        subprocess.run([*as_pg, str(bin_ / "pg_ctl"), "-D", str(tmp / "data"), "-m", "immediate", "stop"], capture_output=True, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def _migrate(psql, db: str) -> None:
    for f in sorted(MIGRATIONS.glob("*.sql")):
        r = psql("-1", file=f, db=db, check=False)
        assert r.returncode == 0, f"{f.name}: {r.stderr}"


def test_migrations_reapply_cleanly_and_leave_the_renders_bucket_as_config_toml_says(tls_postgres):
    _, psql = tls_postgres
    psql("-c", "create database mig_twice")
    _migrate(psql, "mig_twice")
    # `supabase db push` and the worker's own migrate() track applied files in different tables,
    # so a project where both ran sees every migration twice: each must be idempotent.
    _migrate(psql, "mig_twice")
    types = psql("-c", "select array_to_json(allowed_mime_types) from storage.buckets where id = 'renders'", db="mig_twice").stdout
    bucket = tomllib.loads(CONFIG_TOML.read_text())["storage"]["buckets"]["renders"]
    assert sorted(json.loads(types)) == sorted(bucket["allowed_mime_types"]), \
        "hosted (migrations) and local (config.toml) renders buckets accept different types"
    # Every bucket the local stack makes, the migrations make too (a hosted project has no config.toml buckets).
    made = set(psql("-c", "select id from storage.buckets where not public", db="mig_twice").stdout.split())
    assert set(tomllib.loads(CONFIG_TOML.read_text())["storage"]["buckets"]) <= made


@pytest.mark.skipif(shutil.which("node") is None or not (WORKER / "node_modules" / "tsx").exists(),
                    reason="needs node and the worker's node_modules")
def test_seed_applies_and_holds_contract_valid_rows(tls_postgres, tmp_path):
    _, psql = tls_postgres
    psql("-c", "create database seeded")
    _migrate(psql, "seeded")
    r = psql(file=SEED, db="seeded", check=False)
    assert r.returncode == 0, r.stderr
    rows = json.loads(psql("-c", "select json_agg(json_build_object('status', status, 'request', request, 'result', result, "
                                 "'runnable', run_at <= now() + interval '1 year')) from public.render_jobs", db="seeded").stdout)
    assert {r["status"] for r in rows} == {"succeeded", "queued"}
    for r in rows:
        if r["status"] == "queued":
            assert not r["runnable"], "a seeded queued render would be claimed by a local worker (its narration does not exist)"
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    script = tmp_path / "check.ts"
    script.write_text(f"""
import {{ readFileSync }} from "node:fs";
import {{ createRequire }} from "node:module";
import {{ validateRenderRequest }} from {json.dumps(str(WORKER / "src/http/validate.ts"))};
import {{ parseKey }} from {json.dumps(str(WORKER / "src/storage/keys.ts"))};
const require = createRequire({json.dumps(str(WORKER / "package.json"))});
const Ajv2020 = require("ajv/dist/2020.js").default;
const ajv = new Ajv2020({{ strict: false }});
const output = ajv.compile(JSON.parse(readFileSync({json.dumps(str(ROOT / "packages/shared-types/schema/RenderOutput.json"))}, "utf8")));
const rows = JSON.parse(readFileSync({json.dumps(str(tmp_path / "rows.json"))}, "utf8"));
for (const r of rows) {{
  validateRenderRequest(structuredClone(r.request));
  if (r.status === "succeeded") {{
    if (!output(r.result)) throw new Error("seed result is not a RenderOutput: " + JSON.stringify(output.errors));
    parseKey(r.result.video.key); parseKey(r.result.source.key);
  }}
}}
console.log("ok", rows.length);
""")
    out = subprocess.run(["node", "--import", "tsx", str(script)], cwd=WORKER, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("ok 2"), out.stderr[-2000:]


@pytest.mark.skipif(shutil.which("node") is None or not (WORKER / "node_modules" / "pg").exists(),
                    reason="needs node and the worker's node_modules")
def test_database_url_sslmode_as_the_readme_says(tls_postgres, tmp_path):
    """README: append `?sslmode=require&uselibpqcompat=true` to the pooler URL. Without sslmode the
    worker's pg connects in plaintext; `sslmode=require` alone means verify-full to node-postgres
    and fails on a certificate Node does not trust (Supabase's CA, here a self-signed one)."""
    port, _ = tls_postgres
    base = f"postgres://postgres@127.0.0.1:{port}/postgres"
    script = tmp_path / "ssl.mjs"
    script.write_text(f"""
import {{ createRequire }} from "node:module";
const require = createRequire({json.dumps(str(WORKER / "package.json"))});
const pg = require("pg");
const out = {{}};
for (const q of ["", "?sslmode=require", "?sslmode=require&uselibpqcompat=true"]) {{
  const pool = new pg.Pool({{ connectionString: {json.dumps(base)} + q, max: 1, connectionTimeoutMillis: 5000 }});
  try {{
    const r = await pool.query("select ssl from pg_stat_ssl where pid = pg_backend_pid()");
    out[q] = "ssl=" + r.rows[0].ssl;
  }} catch (e) {{
    out[q] = "error:" + (e.code ?? e.message);
  }} finally {{
    await pool.end();
  }}
}}
console.log(JSON.stringify(out));
""")
    r = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got[""] == "ssl=false", got
    assert got["?sslmode=require"].startswith("error:") and "SELF_SIGNED" in got["?sslmode=require"].upper(), got
    assert got["?sslmode=require&uselibpqcompat=true"] == "ssl=true", got
    readme = (ROOT / "README.md").read_text()
    assert "sslmode=require&uselibpqcompat=true" in readme
