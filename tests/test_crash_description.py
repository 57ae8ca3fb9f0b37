"""`internal` errors tell the caller what broke without naming our temp or spool files."""

from __future__ import annotations

import tempfile

from modal_functions.errors import describe_crash


def test_an_oserror_keeps_only_its_reason():
    e = FileNotFoundError(2, "No such file or directory", f"{tempfile.gettempdir()}/canvascast-x/.upload-1.part")
    assert describe_crash(e) == "FileNotFoundError: No such file or directory"


def test_temp_paths_in_other_messages_are_replaced():
    e = RuntimeError(f"decoder failed on {tempfile.gettempdir()}/canvascast-ab/work/frame-001.png: bad header")
    assert describe_crash(e) == "RuntimeError: decoder failed on <temp>: bad header"


def test_other_messages_are_kept_and_bounded():
    assert describe_crash(KeyError("width")) == "KeyError: 'width'"
    assert len(describe_crash(ValueError("x" * 5000))) == 2000
