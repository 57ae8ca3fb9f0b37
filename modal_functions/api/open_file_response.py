"""A FileResponse over a file the handler has already opened.

Starlette's FileResponse stats its path for the headers and opens it again to send the
bytes. Between the two, the local store may replace the file (publishing a render is
an atomic replace) or delete it (retention cleanup): the client then got one version's
Content-Length with another version's bytes, a cut body, or a 500. Here the headers
(size, ETag, Last-Modified) and the bytes come from one open file, so a reader gets one
whole version, whatever happens to the path meanwhile.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO

import anyio
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

PATHSEND = "http.response.pathsend"  # sends by path: would read whatever is at the path by then


class OpenFileResponse(FileResponse):
    def __init__(self, file: BinaryIO, path: Path, **kwargs: Any):
        self._file = file
        super().__init__(path, stat_result=os.fstat(file.fileno()), **kwargs)

    @property
    def size(self) -> int:
        return self.stat_result.st_size

    def close(self) -> None:
        """For a handler that answers something else after all."""
        self._file.close()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        await anyio.to_thread.run_sync(self._file.seek, 0)
        yield anyio.wrap_file(self._file)  # closed once the response is over (__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.get("extensions") or {}
        if PATHSEND in extensions:
            scope = {**scope, "extensions": {k: v for k, v in extensions.items() if k != PATHSEND}}
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.close()
