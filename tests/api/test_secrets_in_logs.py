"""A signed URL's signature is the credential (no bearer needed): it must not reach the logs.

uvicorn's access log writes each request's path with its query string, so every read of a
signed artifact URL put `sig=<hex>` into `serve.log` (and whatever ships it): anyone with the
logs could read the artifact until `exp`. The same holds for a Supabase signed URL's
`token=` in a logged error message.
"""

from __future__ import annotations

import json
import logging

import httpx

from api_support import TOKEN
from modal_functions.api.server_process import ServerProcess
from modal_functions.logs import JsonFormatter
from modal_functions.runtime.testing import write_config

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 30.0  # upper bound for any request below; never an asserted duration


def test_a_signed_read_is_logged_without_its_signature(tmp_path):
    toml = write_config(tmp_path / "modal.toml", inhouse={"diagnostic": {"workers": 1, "queue": 0}})
    # access log on (no --no-access-log): that is what an operator runs
    with ServerProcess(tmp_path / "data", TOKEN, modal_toml=toml, args=["--kinds", "diagnostic"]) as server:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=WAIT_S) as http:
            ref = http.post("/v1/artifacts", params={"ext": "txt"}, content=b"private", headers={"content-type": "text/plain"}).json()
        sig = httpx.URL(ref["url"]).params["sig"]
        assert httpx.get(ref["url"], timeout=WAIT_S).content == b"private"
        bad = httpx.get(ref["url"].replace(sig, "0" * len(sig)), timeout=WAIT_S)  # refused reads are logged too
        assert bad.status_code == 403, bad.text
    lines = [json.loads(line) for line in server.log_tail(1_000_000).splitlines() if line.strip()]
    reads = [r["msg"] for r in lines if r.get("logger") == "uvicorn.access" and "GET /v1/artifacts/" in r["msg"]]
    assert len(reads) == 2, reads  # the reads are still logged, with their path and status...
    assert all(ref["key"] in msg for msg in reads)
    log = server.log_tail(1_000_000)
    assert sig not in log and "0" * len(sig) not in log  # ...but not with the credential


def test_credentials_in_urls_are_redacted_in_any_record():
    record = logging.LogRecord("canvascast.test", logging.WARNING, __file__, 1, "cannot fetch %s", (
        "https://x.supabase.co/storage/v1/object/sign/b/a.png?token=eyJhbGciOi.eyJ1cmwi.c2ln",), None)
    record.error = "GET http://h/v1/artifacts/k.png?exp=1&sig=abcdef0123: 404"
    out = json.loads(JsonFormatter().format(record))
    assert "eyJhbGciOi" not in out["msg"] and "abcdef0123" not in out["error"]
    assert out["msg"].startswith("cannot fetch https://x.supabase.co/storage/v1/object/sign/b/a.png?token=")
    assert out["error"].startswith("GET http://h/v1/artifacts/k.png?exp=1&sig=") and out["error"].endswith(": 404")
    # words that merely contain the names are left alone
    plain = logging.LogRecord("t", logging.INFO, __file__, 1, "design=1 tokens=5", (), None)
    assert json.loads(JsonFormatter().format(plain))["msg"] == "design=1 tokens=5"
