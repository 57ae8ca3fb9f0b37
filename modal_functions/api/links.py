"""OpenAPI links: what a client can do next with a job it got back (get, cancel, stream).

They document the flow in `/openapi.json` and let the stateful fuzz
(`tests/api/test_api_fuzz.py`) follow real job ids instead of guessing them.
"""

from __future__ import annotations

from typing import Any


def job_links(id_pointer: str) -> dict[str, Any]:
    """Links from a response whose job id sits at JSON pointer `id_pointer` (e.g. `/id`)."""
    by_id = {"job_id": f"$response.body#{id_pointer}"}
    return {
        "GetJob": {"operationId": "get_job_v1_jobs__job_id__get", "parameters": by_id},
        "CancelJob": {"operationId": "cancel_job_v1_jobs__job_id__delete", "parameters": by_id},
        "JobEvents": {"operationId": "job_events_v1_jobs__job_id__events_get", "parameters": by_id},
    }
