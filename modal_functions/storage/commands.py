"""`canvascast artifacts ...`: put a file in the store, sign a read URL, enforce retention.

    canvascast artifacts put FILE [--ext png] [--expires-in 3600]   prints the ArtifactRef JSON
    canvascast artifacts url KEY [--expires-in 3600]                prints a signed read URL
    canvascast artifacts cleanup [--older-than-days N] [--include-renders]

Works against whichever store the settings select (local by default, Supabase with
ARTIFACT_STORE=supabase). Run cleanup from cron; it removes artifacts whose last
write is older than ARTIFACT_RETENTION_DAYS (published renders are kept unless asked).

Values are checked before the store is touched: `--expires-in` is 1..604800 seconds
(7 days, the API's limit), `url` refuses a key that is not stored, and cleanup's age is
a finite number of days >= 0. Failures are one stderr line, `canvascast artifacts:
error [<code>]: <message>`, exit 2 for bad input (a 4xx code) and 1 otherwise
(`cli.main` formats the CapabilityErrors these commands raise).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import BAD_REQUEST, CapabilityError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("artifacts", help="artifact store: put, url, cleanup")
    cmds = p.add_subparsers(dest="artifacts_command", required=True)

    put = cmds.add_parser("put", help="store FILE content-addressed; print its ArtifactRef JSON")
    put.add_argument("file", type=Path)
    put.add_argument("--ext", default=None, help="extension (default: the file's suffix)")
    put.add_argument("--expires-in", type=int, default=3600, help="lifetime of the signed url, seconds (1..604800)")
    put.set_defaults(func=cmd_put)

    url = cmds.add_parser("url", help="print a signed, expiring read URL for KEY")
    url.add_argument("key")
    url.add_argument("--expires-in", type=int, default=3600, help="seconds (1..604800)")
    url.set_defaults(func=cmd_url)

    clean = cmds.add_parser("cleanup", help="remove artifacts older than the retention")
    clean.add_argument("--older-than-days", type=float, default=None, help="default: ARTIFACT_RETENTION_DAYS")
    clean.add_argument("--include-renders", action="store_true", help="also remove old published renders/")
    clean.set_defaults(func=cmd_cleanup)


def bad_input(message: str) -> CapabilityError:
    return CapabilityError(BAD_REQUEST, message, http_status=400)


def _expires_in(value: int) -> int:
    from .signing import MAX_EXPIRES_IN, check_expires_in

    try:
        return check_expires_in(value)
    except CapabilityError:
        raise bad_input(f"--expires-in must be 1..{MAX_EXPIRES_IN} seconds (7 days), not {value}") from None


def cmd_put(args: argparse.Namespace) -> int:
    from . import get_store
    from .keys import normalize_ext

    path: Path = args.file
    expires_in = _expires_in(args.expires_in)
    if not path.exists():
        raise bad_input(f"{path}: no such file")
    if not path.is_file():
        raise bad_input(f"{path}: not a regular file")
    ext = args.ext if args.ext is not None else path.suffix.lstrip(".")
    if args.ext is None and not ext:
        raise bad_input(f"{path} has no suffix: give --ext")
    normalize_ext(ext)  # invalid_key (400) before any upload
    store = get_store()
    try:
        ref = store.put_file(path, ext)
    except CapabilityError as e:
        if e.http_status == 400:  # about the file: say which (the store never names paths)
            raise CapabilityError(e.code, f"{path}: {e.message}", http_status=400) from e
        raise
    ref = ref.model_copy(update={"url": store.signed_url(ref.key, expires_in)})
    print(ref.model_dump_json())
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    from . import get_store
    from .keys import parse_key

    expires_in = _expires_in(args.expires_in)
    parse_key(args.key)
    print(get_store().signed_url(args.key, expires_in))  # artifact_not_found (404) for a key not stored
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    from ..settings import get_settings
    from . import get_store

    if args.older_than_days is not None:
        days, source = args.older_than_days, "--older-than-days"
    else:
        days, source = get_settings().retention_days, "ARTIFACT_RETENTION_DAYS"
    if not math.isfinite(days) or days < 0 or not math.isfinite(days * 86400):
        raise bad_input(f"{source} must be a finite number of days >= 0, not {days:g}")
    removed = get_store().cleanup(days * 86400, include_renders=args.include_renders)
    print(f"removed {removed} artifact(s) older than {days:g} day(s)")
    return 0
