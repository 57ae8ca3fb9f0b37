"""`canvascast artifacts ...`: put a file in the store, sign a read URL, enforce retention.

    canvascast artifacts put FILE [--ext png] [--expires-in 3600]   prints the ArtifactRef JSON
    canvascast artifacts url KEY [--expires-in 3600]                prints a signed read URL
    canvascast artifacts cleanup [--older-than-days N] [--include-renders]

Works against whichever store the settings select (local by default, Supabase with
ARTIFACT_STORE=supabase). Run cleanup from cron; it removes artifacts whose last
write is older than ARTIFACT_RETENTION_DAYS (published renders are kept unless asked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import CapabilityError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("artifacts", help="artifact store: put, url, cleanup")
    cmds = p.add_subparsers(dest="artifacts_command", required=True)

    put = cmds.add_parser("put", help="store FILE content-addressed; print its ArtifactRef JSON")
    put.add_argument("file", type=Path)
    put.add_argument("--ext", default=None, help="extension (default: the file's suffix)")
    put.add_argument("--expires-in", type=int, default=3600, help="lifetime of the signed url, seconds")
    put.set_defaults(func=cmd_put)

    url = cmds.add_parser("url", help="print a signed, expiring read URL for KEY")
    url.add_argument("key")
    url.add_argument("--expires-in", type=int, default=3600)
    url.set_defaults(func=cmd_url)

    clean = cmds.add_parser("cleanup", help="remove artifacts older than the retention")
    clean.add_argument("--older-than-days", type=float, default=None, help="default: ARTIFACT_RETENTION_DAYS")
    clean.add_argument("--include-renders", action="store_true", help="also remove old published renders/")
    clean.set_defaults(func=cmd_cleanup)


def _fail(e: CapabilityError) -> int:
    print(f"canvascast artifacts: {e.code}: {e.message}", file=sys.stderr)
    return 1


def cmd_put(args: argparse.Namespace) -> int:
    from . import get_store

    ext = args.ext or args.file.suffix.lstrip(".")
    if not ext:
        print("canvascast artifacts: give --ext (the file has no suffix)", file=sys.stderr)
        return 2
    try:
        store = get_store()
        ref = store.put_file(args.file, ext)
        ref = ref.model_copy(update={"url": store.signed_url(ref.key, args.expires_in)})
    except CapabilityError as e:
        return _fail(e)
    print(ref.model_dump_json())
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    from . import get_store

    try:
        print(get_store().signed_url(args.key, args.expires_in))
    except CapabilityError as e:
        return _fail(e)
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    from ..settings import get_settings
    from . import get_store

    days = args.older_than_days if args.older_than_days is not None else get_settings().retention_days
    if days < 0:
        print("canvascast artifacts: --older-than-days must be >= 0", file=sys.stderr)
        return 2
    try:
        removed = get_store().cleanup(days * 86400, include_renders=args.include_renders)
    except CapabilityError as e:
        return _fail(e)
    print(f"removed {removed} artifact(s) older than {days:g} day(s)")
    return 0
