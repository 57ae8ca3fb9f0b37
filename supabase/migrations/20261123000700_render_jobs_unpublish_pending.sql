-- Removals of what ended renders published, kept in the database (apps/worker/src/pipeline/unpublish.ts).
--
-- A render that ends without a video (failed, dead, cancelled) keeps nothing under
-- renders/<owner>/<id>.*: what an attempt published is removed. A removal that failed
-- (storage down) was retried from the failing worker's memory only, so a crash or a redeploy
-- left those files in storage for good. Now a render that may have something to remove is
-- marked here, `unpublish_pending_since` (when it was last marked), and any worker's periodic
-- sweep finds it, oldest first, through the partial index below (it holds only the pending
-- ones, so the sweep costs a few index pages however many renders ever ended).
--
-- Marked by the database itself, whatever ended the render (fail, reapDead, a DELETE, an
-- operator's update):
--   * a render going to failed/dead/cancelled that has a publish step row (no copy starts
--     before that row is written, so without one nothing was published);
--   * a write of the publish step of a render that already ended so (a stale attempt, still
--     holding the lease of a cancelled render, copying after it ended), except the
--     `cancelled` mark the worker writes after its removal.
-- Each mark takes a new clock_timestamp(): a removal clears the mark only if it is still the
-- one it read before removing (unpublish.ts), so a mark made meanwhile is never lost.

do $$
begin
  if not exists (select 1 from information_schema.columns
                  where table_schema = 'public' and table_name = 'render_jobs' and column_name = 'unpublish_pending_since') then
    alter table public.render_jobs add column unpublish_pending_since timestamptz;
    -- Renders that ended before this migration: their removals may have been lost with a
    -- worker's memory. Each is swept once (removing files already gone is harmless). Only
    -- when the column is new: this file must apply twice without marking them again.
    update public.render_jobs j
       set unpublish_pending_since = coalesce(j.finished_at, j.updated_at)
     where j.status in ('failed', 'dead', 'cancelled')
       and exists (select 1 from public.render_steps s where s.render_id = j.id and s.step = 'publish');
  end if;
end
$$;

create index if not exists render_jobs_unpublish_pending_idx
  on public.render_jobs (unpublish_pending_since, created_at)
  where unpublish_pending_since is not null;

create or replace function public.render_jobs_mark_unpublish() returns trigger
  language plpgsql
  as $$
begin
  if exists (select 1 from public.render_steps s where s.render_id = new.id and s.step = 'publish') then
    new.unpublish_pending_since := clock_timestamp();
  end if;
  return new;
end
$$;

drop trigger if exists render_jobs_mark_unpublish on public.render_jobs;
create trigger render_jobs_mark_unpublish before update of status on public.render_jobs
  for each row
  when (new.status in ('failed', 'dead', 'cancelled') and old.status is distinct from new.status)
  execute function public.render_jobs_mark_unpublish();

create or replace function public.render_steps_mark_unpublish() returns trigger
  language plpgsql
  as $$
begin
  update public.render_jobs
     set unpublish_pending_since = clock_timestamp()
   where id = new.render_id and status in ('failed', 'dead', 'cancelled');
  return null;
end
$$;

drop trigger if exists render_steps_mark_unpublish on public.render_steps;
create trigger render_steps_mark_unpublish after insert or update on public.render_steps
  for each row
  when (new.step = 'publish' and new.status <> 'cancelled')
  execute function public.render_steps_mark_unpublish();
