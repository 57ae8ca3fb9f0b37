"""Structured logs: one JSON object per line on the stderr of the moment."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest

from modal_functions.logs import setup_logging


@pytest.fixture
def fresh_root():
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers[:] = []
    yield root
    root.handlers[:] = saved
    root.setLevel(level)


def test_a_record_is_one_json_line_with_its_extra_fields(fresh_root):
    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        setup_logging("INFO")
        logging.getLogger("canvascast.test").warning("chunk failed", extra={"chunk": 1, "try": 2})
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["logger"] == "canvascast.test" and record["msg"] == "chunk failed"
    assert (record["chunk"], record["try"]) == (1, 2)


def test_logs_follow_stderr_after_the_stream_of_setup_time_is_closed(fresh_root):
    """Set up under one stderr that is later closed (a harness's capture): later records still reach stderr."""
    first = io.StringIO()
    with contextlib.redirect_stderr(first):
        setup_logging("INFO")
    first.close()
    later = io.StringIO()
    with contextlib.redirect_stderr(later):
        logging.getLogger("canvascast.test").warning("still logged")
    assert [json.loads(line)["msg"] for line in later.getvalue().splitlines()] == ["still logged"]
