"""The worker's render request (issue 7): script scenes + narration -> one MP4.

Filled in by the worker issue; every model listed in EXPORTED reaches shared-types.
"""

from __future__ import annotations

from pydantic import BaseModel

EXPORTED: dict[str, type[BaseModel]] = {}
