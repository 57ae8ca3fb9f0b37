"""The baseline: a bare FastAPI app with the same shapes, served by uvicorn with the same settings as `canvascast serve`."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

import uvicorn
from fastapi import FastAPI

app = FastAPI()
_JOBS: dict[str, dict] = {}


def _job(job_id: str, status: str) -> dict:
    now = datetime.now(timezone.utc).isoformat()
    return {"id": job_id, "kind": "diagnostic", "status": status, "progress": {"done": 1, "total": 1, "unit": "steps", "message": "done"},
            "input": {"action": "succeed"}, "result": {"echo": "", "pid": 1, "loads": 1, "attempt": 1}, "error": None, "attempts": 1,
            "created_at": now, "updated_at": now, "backend": "inhouse"}


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/jobs", status_code=202)
def submit(body: dict) -> dict:
    job = _job(uuid.uuid4().hex, "succeeded")
    _JOBS[job["id"]] = job
    return job


@app.get("/jobs/{job_id}")
def get(job_id: str) -> dict:
    return _JOBS.get(job_id) or _job(job_id, "succeeded")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False,
                timeout_graceful_shutdown=5, lifespan="on")
