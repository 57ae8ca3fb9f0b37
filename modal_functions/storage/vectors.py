"""Test vectors for key derivation and URL signatures, shared with the TypeScript worker.

`python -m modal_functions.storage.vectors` rewrites packages/shared-types/vectors/*.json
from the Python implementation; tests/storage/test_vectors.py fails when the files drift
and re-derives every case independently (hashlib/hmac), and the worker checks the same files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import CapabilityError
from .keys import artifact_key, content_type_for, normalize_ext, parse_key, published_key, sha256_bytes
from .signing import canonical_string, sign, signed_url

VECTORS_DIR = Path(__file__).resolve().parents[2] / "packages" / "shared-types" / "vectors"

SIGNING = "HMAC-SHA256(key=utf8(secret), msg=utf8('GET\\n' + key + '\\n' + exp)), lowercase hex; url = base_url + '/v1/artifacts/' + key + '?exp=' + exp + '&sig=' + sig"

_BYTES = [
    ("empty", {"bytes_hex": ""}, "png"),
    ("utf8 text", {"bytes_utf8": "hello"}, "txt"),
    ("png magic", {"bytes_hex": "89504e470d0a1a0a0000000d49484452"}, "png"),
    ("binary 0..255", {"bytes_hex": bytes(range(256)).hex()}, "bin"),
    ("uppercase ext with dot", {"bytes_utf8": "caption 1\n00:00:00,000 --> 00:00:01,000\nHi\n"}, ".SRT"),
    ("mp4 header", {"bytes_hex": "000000186674797069736f6d0000020069736f6d69736f32"}, "mp4"),
    ("wav header", {"bytes_utf8": "RIFF$\u0000\u0000\u0000WAVEfmt "}, "wav"),
    ("json", {"bytes_utf8": "{\"a\":1}"}, "json"),
    ("unicode", {"bytes_utf8": "héllo wörld ✓"}, "vtt"),
]

VALID_KEYS = [
    "artifacts/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt",
    "renders/user_1/render-42.mp4",
    "renders/A/b.x",
    "renders/" + "o" * 128 + "/" + "i" * 128 + ".abcdefgh",
]

INVALID_KEYS = [
    "",
    "/artifacts/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt",
    "artifacts/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "artifacts/sha256/2d/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt",
    "artifacts/sha256/2C/2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824.txt",
    "artifacts/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.TXT",
    "artifacts/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98.txt",
    "artifacts/sha256/2c/../../../etc/passwd",
    "artifacts/sha256/2c/%2e%2e/secret.txt",
    "renders/../artifacts/x.mp4",
    "renders/a/../b.mp4",
    "renders/a/b/c.mp4",
    "renders/a/b.mp4/",
    "renders/a/b..mp4",
    "renders/a/.b.mp4",
    "renders/a b/c.mp4",
    "renders/a\\b/c.mp4",
    "renders/a/b.mp4\u0000",
    "renders/a/b.mp4\n",
    "renders/a/b.abcdefghi",
    "renders/" + "o" * 129 + "/x.mp4",
    "renders//b.mp4",
    "renders/a/b.mp4?x=1",
    "other/a/b.mp4",
    "./renders/a/b.mp4",
    "renders/é/b.mp4",
]

_SIGN = [
    ("local default", "s3cr3t", "artifacts/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt", 1800000000, "http://127.0.0.1:8000"),
    ("trailing slash base", "s3cr3t", "renders/user_1/render-42.mp4", 1800003600, "https://compute.example.com/"),
    ("hex-looking secret", "0f" * 32, "renders/o/i.png", 2000000000, "http://localhost:8000"),
    ("unicode secret", "sécret ✓", "renders/o/i.wav", 1700000000, "http://127.0.0.1:8000"),
]

_OWNERS = [("user_1", "render-42", "mp4"), ("Org-A", "job_0001", "PNG"), ("u", "x", ".wav")]
INVALID_PUBLISH = [("../x", "y", "mp4"), ("a", "b/c", "mp4"), ("a", "b.c", "mp4"), ("", "b", "mp4"), ("a", "b", "m p4"), ("a", "b", "")]


def _bytes(spec: dict) -> bytes:
    return bytes.fromhex(spec["bytes_hex"]) if "bytes_hex" in spec else spec["bytes_utf8"].encode("utf-8")


def _rejected(fn, *args) -> bool:
    try:
        fn(*args)
    except CapabilityError as e:
        return e.code == "invalid_key"
    return False


def build() -> dict[str, dict]:
    keys = []
    for name, spec, ext in _BYTES:
        digest = sha256_bytes(_bytes(spec))
        key = artifact_key(digest, ext)
        keys.append({"name": name, **spec, "ext": ext, "normalized_ext": normalize_ext(ext), "sha256": digest, "key": key,
                     "content_type": content_type_for(ext), "supabase": {"bucket": "artifacts", "path": key.split("/", 1)[1]}})
    for k in VALID_KEYS:
        parse_key(k)
    assert all(_rejected(parse_key, k) for k in INVALID_KEYS)

    sigs, verify = [], []
    for name, secret, key, exp, base in _SIGN:
        sig = sign(secret, key, exp)
        sigs.append({"name": name, "secret": secret, "key": key, "exp": exp, "base_url": base,
                     "canonical": canonical_string(key, exp), "sig": sig, "url": signed_url(base, secret, key, exp)})
    secret, key, exp = _SIGN[0][1], _SIGN[0][2], _SIGN[0][3]
    good = sign(secret, key, exp)
    verify = [
        {"name": "valid before expiry", "secret": secret, "key": key, "exp": str(exp), "sig": good, "now": exp - 1, "expect": "ok"},
        {"name": "expired at exp", "secret": secret, "key": key, "exp": str(exp), "sig": good, "now": exp, "expect": "signature_expired"},
        {"name": "expired later", "secret": secret, "key": key, "exp": str(exp), "sig": good, "now": exp + 3600, "expect": "signature_expired"},
        {"name": "tampered sig", "secret": secret, "key": key, "exp": str(exp), "sig": good[:-1] + ("0" if good[-1] != "0" else "1"), "now": exp - 1, "expect": "bad_signature"},
        {"name": "tampered exp", "secret": secret, "key": key, "exp": str(exp + 1), "sig": good, "now": exp - 1, "expect": "bad_signature"},
        {"name": "other key", "secret": secret, "key": "renders/user_1/render-42.mp4", "exp": str(exp), "sig": good, "now": exp - 1, "expect": "bad_signature"},
        {"name": "wrong secret", "secret": "other", "key": key, "exp": str(exp), "sig": good, "now": exp - 1, "expect": "bad_signature"},
        {"name": "uppercase sig", "secret": secret, "key": key, "exp": str(exp), "sig": good.upper(), "now": exp - 1, "expect": "bad_signature"},
        {"name": "missing sig", "secret": secret, "key": key, "exp": str(exp), "sig": "", "now": exp - 1, "expect": "bad_signature"},
        {"name": "non-numeric exp", "secret": secret, "key": key, "exp": "1e9", "sig": good, "now": exp - 1, "expect": "bad_signature"},
        {"name": "tampered and expired", "secret": secret, "key": key, "exp": str(exp), "sig": "0" * 64, "now": exp + 10, "expect": "bad_signature"},
    ]

    published = []
    for owner, id_, ext in _OWNERS:
        key = published_key(owner, id_, ext)
        published.append({"owner": owner, "id": id_, "ext": ext, "key": key, "content_type": content_type_for(ext),
                          "supabase": {"bucket": "renders", "path": key.split("/", 1)[1]}})
    assert all(_rejected(published_key, *bad) for bad in INVALID_PUBLISH)

    return {
        "artifact-keys.json": {
            "description": "Content-addressed artifact keys: key = 'artifacts/sha256/' + sha256[0:2] + '/' + sha256 + '.' + normalized_ext; "
                           "normalized_ext = ext without a leading '.', lowercased, must match [a-z0-9]{1,8}. Bytes are given as hex or UTF-8.",
            "key_grammar": {"artifact": "^artifacts/sha256/([0-9a-f]{2})/([0-9a-f]{64})\\.([a-z0-9]{1,8})$ and group1 == group2[0:2]",
                            "published": "^renders/([A-Za-z0-9_-]{1,128})/([A-Za-z0-9_-]{1,128})\\.([a-z0-9]{1,8})$"},
            "cases": keys,
            "valid_keys": VALID_KEYS,
            "invalid_keys": INVALID_KEYS,
        },
        "url-signatures.json": {
            "description": SIGNING + ". Verify: exp must match ^[0-9]{1,12}$ and sig ^[0-9a-f]{64}$, compare in constant time "
                           "(else bad_signature), then now >= exp is signature_expired.",
            "cases": sigs,
            "verify": verify,
        },
        "published-keys.json": {
            "description": "Published results: key = 'renders/' + owner + '/' + id + '.' + normalized_ext (server-side copy of an artifact). "
                           "Supabase: bucket = first key segment's configured bucket, object path = key without its first segment.",
            "cases": published,
            "invalid": [{"owner": o, "id": i, "ext": e} for o, i, e in INVALID_PUBLISH],
        },
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = VECTORS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in build().items():
        path = directory / name
        path.write_text(render(data), encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write():
        print(p, file=sys.stderr)
