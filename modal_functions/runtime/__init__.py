"""Where jobs run: the `JobBackend` interface and the in-house implementation.

- `backend.py`     the `JobBackend` protocol (in-house here, Modal in modal_layer/backend.py)
- `inhouse.py`     `InHouseBackend`: validation, idempotency, admission, job records, wait/events
- `pool.py`        per-kind warm pools: slot threads owning long-lived worker processes
- `process.py`     the parent's handle on one worker (own session, pipes, killpg)
- `worker_main.py` the worker process: load heavy state once, serve jobs over the pipe
- `parts.py`       a job's pieces on its pool's idle workers (`fan_out`, `PartsClient`)
- `watchdog.py`    `Watchdog` (stall/timeout verdicts, injectable clock), `supervise()`, process-group kills
- `progress.py`    `Reporter` (throttle + watchdog beats) and sinks: pipe, dict/modal.Dict, callback
- `context.py`     `RuntimeContext` (the concrete TaskContext) and `LocalTaskContext` (CLI, tests)
- `registry.py`    SQLite job registry + idempotency index, restart recovery
- `capacity.py`    `CapacityFull` (429 + `retry_after`)
- `tempdirs.py`    per-attempt temp dirs, removed on every path
- `proctmp.py`     a worker's own temp dirs (render sidecar), removed when the worker is killed
- `testing.py`     test-sized modal.toml copies and the lifecycle `BackendFactory`
"""
