-- The worker's sweep for compute jobs that renders which are over left running
-- (apps/worker/src/queue/orphanJobs.ts): a render that failed, died or was cancelled has its
-- jobs cancelled, but a cancel that failed (the compute plane down) or was abandoned at a
-- worker's stop left its step `running` and the job billing to its timeout. Any worker now
-- sweeps for such steps, least recently touched first, every interval. Only steps whose job
-- may still run are in this index (those of renders running now, and the orphans), so a pass
-- reads a few rows, not every step ever written. Plain creation: migrations run in a transaction.

create index if not exists render_steps_may_run_idx
  on public.render_steps (updated_at, render_id, step)
  where compute_job_id is not null
    and (status in ('running', 'submitting') or (status = 'failed' and (error ->> 'code') = 'compute_unreachable'));
