"""A clean shutdown logs no error: operators alert on error lines.

A preloading pool starts its workers as soon as it starts; stopping the server while a
worker is still importing its capability module (torch can take a while) used to log
`worker failed to start ... pool closing` at level error. A real start failure still does.
"""

from __future__ import annotations

import logging
import threading

from test_pool_edges import NeverReadyWorker, Recorder

from modal_functions.config import load_config
from modal_functions.runtime.pool import KindPool
from modal_functions.runtime.tempdirs import TempDirs
from modal_functions.runtime.testing import write_config


def _preloading_pool(tmp_path, spawn) -> KindPool:
    cfg = load_config(write_config(tmp_path / "modal.toml", functions={"diagnostic": {"timeout": 60, "stall_timeout": 30, "retries": 0}},
                                   inhouse={"diagnostic": {"workers": 1, "queue": 1, "preload": True}}))
    return KindPool("diagnostic", cfg.pool("diagnostic"), cfg.function("diagnostic"), Recorder(), TempDirs(tmp_path / "tmp"), {},
                    poll_interval=0.05, spawn=spawn)


def test_closing_while_a_preloading_worker_starts_logs_no_error(tmp_path, caplog):
    spawned = threading.Event()

    class Starting(NeverReadyWorker):
        def __init__(self, kind, init):
            super().__init__(kind, init)
            spawned.set()

    pool = _preloading_pool(tmp_path, Starting)
    with caplog.at_level(logging.INFO, logger="canvascast.pool"):
        pool.start()
        assert spawned.wait(30), "the preloading slot never spawned its worker"
        pool.close(timeout=30)
    errors = [r for r in caplog.records if r.name == "canvascast.pool" and r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_a_real_start_failure_is_still_an_error(tmp_path, caplog):
    logged = threading.Event()

    class Seen(logging.Handler):  # the error line itself, not just the failure: close() must come after it
        def emit(self, record):
            if record.levelno == logging.ERROR and record.getMessage() == "worker failed to start":
                logged.set()

    def broken(kind, init):
        raise OSError("cannot fork")

    seen = Seen()
    logging.getLogger("canvascast.pool").addHandler(seen)
    try:
        pool = _preloading_pool(tmp_path, broken)
        with caplog.at_level(logging.INFO, logger="canvascast.pool"):
            pool.start()
            assert logged.wait(30)
            pool.close(timeout=30)
    finally:
        logging.getLogger("canvascast.pool").removeHandler(seen)
    assert any(r.levelno == logging.ERROR and r.getMessage() == "worker failed to start" for r in caplog.records)
