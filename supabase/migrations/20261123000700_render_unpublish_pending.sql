-- Removals of what ended renders published, kept in the database (apps/worker/src/pipeline/unpublish.ts).
--
-- A render that ends without a video (failed, dead, cancelled) keeps nothing under
-- renders/<owner>/<id>.*: what an attempt published is removed. A removal that failed
-- (storage down) was retried from the failing worker's memory only, so a crash or a redeploy
-- left those files in storage for good. Now a render that may have something to remove has a
-- row here, `since` (when it was last marked), and any worker's periodic sweep finds it,
-- oldest first. A table of its own, not a column of render_jobs: a mark written there would
-- move the ended render's updated_at (render_jobs_touch) and send its owner a Realtime
-- UPDATE at every mark and every clear. Only the service role sees this table.
--
-- Marked by the database itself, whatever ended the render (fail, reapDead, a cancel, an
-- operator's update):
--   * a render going to failed/dead/cancelled that has a publish step row (no copy starts
--     before that row is written, so without one nothing was published);
--   * a write of the publish step of a render that already ended so (a stale attempt, still
--     holding the lease of a cancelled render, copying after it ended), except the
--     `cancelled` mark the worker writes after its removal.
-- Each mark takes a new clock_timestamp(): a removal deletes the row only if its mark is still
-- the one it read before removing (unpublish.ts), so a mark made meanwhile is never lost.

do $$
begin
  if to_regclass('public.render_unpublish_pending') is null then
    create table public.render_unpublish_pending (
      render_id uuid primary key references public.render_jobs (id) on delete cascade,
      since timestamptz not null default clock_timestamp()
    );
    -- Renders that ended before this migration: their removals may have been lost with a
    -- worker's memory. Each is swept once (removing files already gone is harmless). Only
    -- when the table is new: this file must apply twice without marking them again.
    insert into public.render_unpublish_pending (render_id, since)
    select j.id, coalesce(j.finished_at, j.updated_at)
      from public.render_jobs j
     where j.status in ('failed', 'dead', 'cancelled')
       and exists (select 1 from public.render_steps s where s.render_id = j.id and s.step = 'publish');
  end if;
end
$$;

create index if not exists render_unpublish_pending_since_idx
  on public.render_unpublish_pending (since, render_id);

-- The worker's alone (Supabase's default privileges grant anon and authenticated ALL on new tables).
alter table public.render_unpublish_pending enable row level security;
revoke all on public.render_unpublish_pending from anon, authenticated;
grant all on public.render_unpublish_pending to service_role;

create or replace function public.render_unpublish_mark(render uuid) returns void
  language sql
  as $$
  insert into public.render_unpublish_pending (render_id, since) values (render, clock_timestamp())
  on conflict (render_id) do update set since = excluded.since;
$$;

create or replace function public.render_jobs_mark_unpublish() returns trigger
  language plpgsql
  as $$
begin
  if exists (select 1 from public.render_steps s where s.render_id = new.id and s.step = 'publish') then
    perform public.render_unpublish_mark(new.id);
  end if;
  return null;
end
$$;

drop trigger if exists render_jobs_mark_unpublish on public.render_jobs;
create trigger render_jobs_mark_unpublish after update of status on public.render_jobs
  for each row
  when (new.status in ('failed', 'dead', 'cancelled') and old.status is distinct from new.status)
  execute function public.render_jobs_mark_unpublish();

create or replace function public.render_steps_mark_unpublish() returns trigger
  language plpgsql
  as $$
begin
  if exists (select 1 from public.render_jobs j where j.id = new.render_id and j.status in ('failed', 'dead', 'cancelled')) then
    perform public.render_unpublish_mark(new.render_id);
  end if;
  return null;
end
$$;

drop trigger if exists render_steps_mark_unpublish on public.render_steps;
create trigger render_steps_mark_unpublish after insert or update on public.render_steps
  for each row
  when (new.step = 'publish' and new.status <> 'cancelled')
  execute function public.render_steps_mark_unpublish();
