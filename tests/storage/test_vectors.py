"""The shared test vectors (packages/shared-types/vectors) match the implementation and re-derive independently."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.storage.keys import artifact_key, normalize_ext, parse_key, published_key
from modal_functions.storage.signing import UrlSigner
from modal_functions.storage.vectors import VECTORS_DIR, build, render


def load(name: str) -> dict:
    return json.loads((VECTORS_DIR / name).read_text(encoding="utf-8"))


def test_files_do_not_drift():
    for name, data in build().items():
        assert (VECTORS_DIR / name).read_text(encoding="utf-8") == render(data), f"{name} drifted: run python -m modal_functions.storage.vectors"


def test_artifact_keys_rederived_independently():
    v = load("artifact-keys.json")
    assert len(v["cases"]) >= 5
    for case in v["cases"]:
        data = bytes.fromhex(case["bytes_hex"]) if "bytes_hex" in case else case["bytes_utf8"].encode()
        digest = hashlib.sha256(data).hexdigest()
        ext = case["ext"].lstrip(".").lower()
        assert case["sha256"] == digest
        assert case["key"] == f"artifacts/sha256/{digest[:2]}/{digest}.{ext}"
        assert artifact_key(digest, case["ext"]) == case["key"]
        assert parse_key(case["key"]).sha256 == digest
        assert case["supabase"]["path"] == case["key"][len("artifacts/"):]
    for key in v["valid_keys"]:
        parse_key(key)
    for key in v["invalid_keys"]:
        with pytest.raises(CapabilityError) as e:
            parse_key(key)
        assert (e.value.code, e.value.http_status) == ("invalid_key", 400)


def test_url_signatures_rederived_independently():
    v = load("url-signatures.json")
    for case in v["cases"]:
        msg = f"GET\n{case['key']}\n{case['exp']}"
        assert case["canonical"] == msg
        sig = hmac.new(case["secret"].encode(), msg.encode(), hashlib.sha256).hexdigest()
        assert case["sig"] == sig
        assert case["url"] == f"{case['base_url'].rstrip('/')}/v1/artifacts/{case['key']}?exp={case['exp']}&sig={sig}"
        assert UrlSigner(case["secret"], case["base_url"]).url_at(case["key"], case["exp"]) == case["url"]


def test_url_signature_verify_cases():
    v = load("url-signatures.json")
    expects = {c["expect"] for c in v["verify"]}
    assert expects == {"ok", "bad_signature", "signature_expired"}
    for case in v["verify"]:
        signer = UrlSigner(case["secret"], "http://x", clock=lambda now=case["now"]: now)
        if case["expect"] == "ok":
            assert signer.verify(case["key"], case["exp"], case["sig"]) == int(case["exp"])
        else:
            with pytest.raises(CapabilityError) as e:
                signer.verify(case["key"], case["exp"], case["sig"])
            assert (e.value.code, e.value.http_status) == (case["expect"], 403), case["name"]


def test_published_keys():
    v = load("published-keys.json")
    for case in v["cases"]:
        assert published_key(case["owner"], case["id"], case["ext"]) == case["key"]
        assert case["key"] == f"renders/{case['owner']}/{case['id']}.{normalize_ext(case['ext'])}"
        parsed = parse_key(case["key"])
        assert (parsed.owner, parsed.id) == (case["owner"], case["id"])
    for bad in v["invalid"]:
        with pytest.raises(CapabilityError):
            published_key(bad["owner"], bad["id"], bad["ext"])


def test_vectors_reproduce_in_javascript():
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    out = subprocess.run([node, str(VECTORS_DIR / "check.mjs")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "vectors ok"


def test_a_url_lives_at_least_its_expires_in_whatever_the_fraction_of_the_second():
    now = [1_800_000_000.999]
    signer = UrlSigner("secret", "http://127.0.0.1:8000", clock=lambda: now[0])
    key = "artifacts/sha256/ab/" + "ab" * 32 + ".png"
    exp = int(parse_qs(urlsplit(signer.url(key, expires_in=1)).query)["exp"][0])
    now[0] += 0.999  # just under a second later
    assert signer.verify(key, exp, signer.signature(key, exp)) == exp
