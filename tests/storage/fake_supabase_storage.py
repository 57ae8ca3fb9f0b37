"""FAKE Supabase Storage: a minimal local HTTP server speaking the Storage REST wire protocol.

Only what SupabaseStore uses, driven by the REAL supabase-py client pointed at
http://127.0.0.1:<port> (supabase-py adds /storage/v1):

    POST   /object/{bucket}/{path}          multipart upload (x-upsert: "true" to overwrite)
    GET    /object/{bucket}/{path}          download (also /object/authenticated/...)
    GET    /object/info/{bucket}/{path}     object info
    POST   /object/copy                     {bucketId, sourceKey, destinationKey, destinationBucket?}
    POST   /object/sign/{bucket}/{path}     {expiresIn} -> {signedURL: "/object/sign/...?token=<JWT>"}
    POST   /object/sign/{bucket}            {expiresIn, paths: [...]} -> [{error, path, signedURL}, ...]
    GET    /object/sign/{bucket}/{path}?token=<JWT>   signed download
    POST   /object/list/{bucket}            {prefix, limit, offset}: one folder level, folders have id null
    DELETE /object/{bucket}                 {prefixes: [...]}

Real-server behaviour reproduced on purpose: every error is HTTP 400 with the true status
in the JSON body's `statusCode` (a string), e.g. {"statusCode":"404","error":"not_found",
"message":"Object not found"}; expired signed URLs are 400 InvalidJWT "jwt expired";
content type is whatever the multipart part says (supabase-py's default is text/plain).
The batch signing answers 200 with one entry per path asked, in order (repeats included): a
path with no object (a missing bucket has none) is {"error": "Either the object does not exist
or you do not have access to it", "path": ..., "signedURL": null}, as storage-api's
signObjectUrls answers; a body that is not {expiresIn: integer >= 1, paths: [string, ...] with
at least one} is the 400 of its request schema. The clock is injectable for expiry and
timestamps. Buckets enforce the `allowed_mime_types` of `supabase/config.toml` (415
invalid_mime_type), as the real server does on upload; the fake applies them to copies too,
the stricter reading.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

PREFIX = "/storage/v1"
CONFIG_TOML = Path(__file__).resolve().parents[2] / "supabase" / "config.toml"


def bucket_mime_types(config: Path = CONFIG_TOML) -> dict[str, list[str]]:
    """Each bucket's allowed_mime_types in the project's Supabase config."""
    buckets = tomllib.loads(config.read_text()).get("storage", {}).get("buckets", {})
    return {name: list(b["allowed_mime_types"]) for name, b in buckets.items() if b.get("allowed_mime_types")}


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str
    created_at: float
    updated_at: float
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class StorageError(Exception):
    def __init__(self, status: str, error: str, message: str):
        self.status, self.error, self.message = status, error, message


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


NOT_FOUND = StorageError("404", "not_found", "Object not found")


def _batch_sign_body(body: object) -> tuple[int, list[str]]:
    """The batch signing body as storage-api's route schema takes it: {expiresIn: integer >= 1,
    paths: string[] with at least one}, after fastify's default Ajv coercion (coerceTypes
    "array": supabase-py sends expiresIn as a string, a lone path becomes a list of one).
    Anything else is the 400 fastify's validation answers."""
    def bad(message: str) -> StorageError:
        return StorageError("400", "Bad Request", message)

    if not isinstance(body, dict):
        raise bad("body must be object")
    for name in ("expiresIn", "paths"):
        if name not in body:
            raise bad(f"body must have required property '{name}'")
    expires_in, paths = body["expiresIn"], body["paths"]
    if isinstance(expires_in, bool):
        expires_in = int(expires_in)
    elif isinstance(expires_in, str) and expires_in.strip() == expires_in and expires_in.lstrip("-").isdigit():
        expires_in = int(expires_in)
    elif isinstance(expires_in, float) and expires_in.is_integer():
        expires_in = int(expires_in)
    if not isinstance(expires_in, int):
        raise bad("body/expiresIn must be integer")
    if expires_in < 1:
        raise bad("body/expiresIn must be >= 1")
    if not isinstance(paths, list):
        paths = [paths]
    out = []
    for i, p in enumerate(paths):
        if isinstance(p, bool):
            p = "true" if p else "false"
        elif isinstance(p, (int, float)):
            p = str(int(p)) if float(p).is_integer() else str(p)  # as JavaScript's String(n)
        elif p is None:
            p = ""
        if not isinstance(p, str):
            raise bad(f"body/paths/{i} must be string")
        out.append(p)
    if not out:
        raise bad("body/paths must NOT have fewer than 1 items")
    return expires_in, out


class FakeSupabaseStorage:
    def __init__(self, service_key: str = "service-role-key", buckets=("artifacts", "renders"), clock: Callable[[], float] = time.time):
        self.service_key = service_key
        self.clock = clock
        self.jwt_secret = "fake-storage-jwt-secret-0123456789abcdef"
        self.buckets: dict[str, dict[str, StoredObject]] = {b: {} for b in buckets}
        self.mime_types = bucket_mime_types()
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeSupabaseStorage":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ## Storage semantics

    def _bucket(self, name: str) -> dict[str, StoredObject]:
        if name not in self.buckets:
            raise StorageError("404", "Bucket not found", "Bucket not found")
        return self.buckets[name]

    def _get(self, bucket: str, path: str) -> StoredObject:
        obj = self._bucket(bucket).get(path)
        if obj is None:
            raise NOT_FOUND
        return obj

    def _put(self, bucket: str, path: str, data: bytes, content_type: str, cache_control: str, upsert: bool) -> None:
        objects = self._bucket(bucket)
        allowed = self.mime_types.get(bucket)
        if allowed and content_type.split(";")[0].strip().lower() not in allowed:
            raise StorageError("415", "invalid_mime_type", f"mime type {content_type} is not supported")
        now = self.clock()
        old = objects.get(path)
        if old is not None and not upsert:
            raise StorageError("409", "Duplicate", "The resource already exists")
        objects[path] = StoredObject(data, content_type, cache_control, old.created_at if old else now, now)

    def _info(self, bucket: str, path: str, obj: StoredObject) -> dict:
        return {"id": obj.id, "version": obj.id, "name": path, "bucket_id": bucket, "size": len(obj.data),
                "content_type": obj.content_type, "cache_control": obj.cache_control, "etag": f'"{obj.id}"',
                "metadata": {}, "last_modified": _iso(obj.updated_at), "created_at": _iso(obj.created_at),
                "updated_at": _iso(obj.updated_at)}

    def _list(self, bucket: str, prefix: str, limit: int, offset: int) -> list[dict]:
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        entries: dict[str, dict] = {}
        for path, obj in self._bucket(bucket).items():
            if not path.startswith(base):
                continue
            rest = path[len(base):]
            name, slash, _ = rest.partition("/")
            if slash:
                entries.setdefault(name, {"name": name, "id": None, "updated_at": None, "created_at": None,
                                          "last_accessed_at": None, "metadata": None})
            else:
                entries[name] = {"name": name, "id": obj.id, "updated_at": _iso(obj.updated_at),
                                 "created_at": _iso(obj.created_at), "last_accessed_at": _iso(obj.updated_at),
                                 "metadata": {"size": len(obj.data), "mimetype": obj.content_type,
                                              "cacheControl": f"max-age={obj.cache_control}"}}
        ordered = [entries[k] for k in sorted(entries)]
        return ordered[offset:offset + limit]

    def _sign(self, bucket: str, path: str, expires_in: int) -> str:
        self._get(bucket, path)
        return self._signed_url(bucket, path, expires_in)

    def _sign_many(self, bucket: str, body: object) -> list[dict]:
        """storage-api's signObjectUrls: per-path errors, never a missing-bucket or 404 error."""
        expires_in, paths = _batch_sign_body(body)
        objects = self.buckets.get(bucket, {})
        return [{"error": None, "path": p, "signedURL": self._signed_url(bucket, p, expires_in)} if p in objects
                else {"error": "Either the object does not exist or you do not have access to it", "path": p, "signedURL": None}
                for p in paths]

    def _signed_url(self, bucket: str, path: str, expires_in: int) -> str:
        now = int(self.clock())
        token = jwt.encode({"url": f"{bucket}/{path}", "iat": now, "exp": now + expires_in}, self.jwt_secret, algorithm="HS256")
        return f"/object/sign/{bucket}/{path}?token={token}"

    def _verify_token(self, bucket: str, path: str, token: str | None) -> None:
        if not token:
            raise StorageError("400", "InvalidJWT", "jwt must be provided")
        try:
            claims = jwt.decode(token, self.jwt_secret, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError as e:
            raise StorageError("400", "InvalidJWT", str(e) or "invalid signature") from e
        if claims.get("exp", 0) <= self.clock():
            raise StorageError("400", "InvalidJWT", "jwt expired")
        if claims.get("url") != f"{bucket}/{path}":
            raise StorageError("400", "InvalidSignature", "The url do not match the signature")

    # ## HTTP

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, value, status: int = 200) -> None:
                self._reply(status, json.dumps(value).encode())

            def _body(self) -> bytes:
                """The request body, read once (kept for later calls on this request)."""
                if self._cached_body is None:
                    n = int(self.headers.get("Content-Length") or 0)
                    self._cached_body = self.rfile.read(n) if n else b""
                return self._cached_body

            def _authorized(self) -> None:
                auth = self.headers.get("Authorization", "")
                if auth != f"Bearer {fake.service_key}":
                    self._body()  # drain it: unread bytes would corrupt the next request on a kept-alive connection
                    raise StorageError("403", "Unauthorized", "invalid signature")

            def _dispatch(self) -> None:
                self._cached_body = None  # a new request on this connection
                parts = urlsplit(self.path)
                fake.requests.append((self.command, parts.path))
                if not parts.path.startswith(PREFIX + "/object/"):
                    raise StorageError("404", "not_found", "Route not found")
                route = unquote(parts.path[len(PREFIX) + len("/object/"):])
                query = parse_qs(parts.query)
                m = self.command
                with fake.lock:
                    if m == "GET" and route.startswith("sign/"):
                        bucket, _, path = route[5:].partition("/")
                        fake._verify_token(bucket, path, (query.get("token") or [None])[0])
                        obj = fake._get(bucket, path)
                        return self._reply(200, obj.data, obj.content_type)
                    self._authorized()
                    if m == "POST" and route.startswith("sign/") and "/" not in route[5:]:
                        return self._json(fake._sign_many(route[5:], json.loads(self._body() or b"{}")))
                    if m == "POST" and route.startswith("sign/"):
                        bucket, _, path = route[5:].partition("/")
                        body = json.loads(self._body() or b"{}")
                        return self._json({"signedURL": fake._sign(bucket, path, int(body["expiresIn"]))})
                    if m == "GET" and route.startswith("info/"):
                        bucket, _, path = route[5:].partition("/")
                        return self._json(fake._info(bucket, path, fake._get(bucket, path)))
                    if m == "POST" and route == "copy":
                        body = json.loads(self._body())
                        src_bucket, dst_bucket = body["bucketId"], body.get("destinationBucket") or body["bucketId"]
                        obj = fake._get(src_bucket, body["sourceKey"])
                        upsert = self.headers.get("x-upsert") == "true"
                        fake._put(dst_bucket, body["destinationKey"], obj.data, obj.content_type, obj.cache_control, upsert)
                        return self._json({"Key": f"{dst_bucket}/{body['destinationKey']}", "Id": str(uuid.uuid4())})
                    if m == "POST" and route.startswith("list/"):
                        body = json.loads(self._body() or b"{}")
                        return self._json(fake._list(route[5:], body.get("prefix", ""), int(body.get("limit", 100)), int(body.get("offset", 0))))
                    if m == "DELETE" and "/" not in route:
                        body = json.loads(self._body() or b"{}")
                        objects = fake._bucket(route)
                        gone = []
                        for p in body.get("prefixes", []):
                            obj = objects.pop(p, None)
                            if obj is not None:
                                gone.append(fake._info(route, p, obj))
                        return self._json(gone)
                    if route.startswith("authenticated/"):
                        route = route[len("authenticated/"):]
                    bucket, _, path = route.partition("/")
                    if m == "GET" and path:
                        obj = fake._get(bucket, path)
                        return self._reply(200, obj.data, obj.content_type)
                    if m == "POST" and path:
                        data, ctype, cache = self._multipart()
                        fake._put(bucket, path, data, ctype, cache, self.headers.get("x-upsert") == "true")
                        return self._json({"Key": f"{bucket}/{path}", "Id": fake.buckets[bucket][path].id})
                raise StorageError("404", "not_found", "Route not found")

            def _multipart(self) -> tuple[bytes, str, str]:
                raw = self._body()
                head = f"Content-Type: {self.headers.get('Content-Type')}\r\nMIME-Version: 1.0\r\n\r\n".encode()
                msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
                data, ctype, cache = b"", "text/plain;charset=UTF-8", "no-cache"
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if name == "cacheControl":
                        cache = (part.get_payload(decode=True) or b"").decode()
                    elif part.get_filename() is not None or name in ("file", ""):
                        # like the real server (fastify multipart's first file part): supabase-py
                        # names the part "file", supabase-js leaves the name empty
                        data = part.get_payload(decode=True) or b""
                        if part.get("Content-Type"):
                            ctype = str(part.get("Content-Type")).strip()
                return data, ctype, cache

            def _handle(self) -> None:
                try:
                    self._dispatch()
                except StorageError as e:  # the real server's shape: HTTP 400, true status in the body
                    self._json({"statusCode": e.status, "error": e.error, "message": e.message}, status=400)
                except (KeyError, ValueError, json.JSONDecodeError) as e:
                    self._json({"statusCode": "400", "error": "InvalidRequest", "message": str(e)}, status=400)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        return Handler

