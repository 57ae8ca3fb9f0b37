"""Structured JSON logs: one object per line on stderr."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# A URL's query can carry the credential itself: our signed URLs' `sig`, Supabase's signed
# `token`. uvicorn's access log writes every path with its query, and fetch errors name the
# URL they could not read: keep the parameter (the line still says what was asked), not its value.
_URL_CREDENTIAL = re.compile(r"([?&](?:sig|token)=)[\w.~%+/=-]+")  # hex, a JWT, base64, percent-encoded


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _URL_CREDENTIAL.sub(r"\1[redacted]", json.dumps(out, default=str))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record is emitted, not the one at setup.

    A handler bound to the stream of its setup time writes into a closed file once that
    stream is swapped and closed (a test harness's capture, `redirect_stderr`), and every
    later record becomes a "--- Logging error ---" traceback instead of a log line.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
