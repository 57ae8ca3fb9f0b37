-- Durable render jobs: one row per render, claimed by workers with leases.
--
-- A worker claims a ready row in one statement (FOR UPDATE SKIP LOCKED), holds it with a
-- lease it renews by heartbeat, and another worker reclaims it when the lease expires.
-- Attempts are capped; the backoff between attempts is computed in SQL (fail.ts).
-- Each pipeline step keeps its own row in render_steps (backend, compute job id, outputs),
-- so a retried or reclaimed render resumes after its last finished step.
-- Clients (role authenticated) read only their own rows (RLS); the worker is service_role.

create table if not exists public.render_jobs (
  id uuid primary key default gen_random_uuid(),
  owner text not null check (owner ~ '^[A-Za-z0-9_-]{1,128}$'),
  idempotency_key text check (char_length(idempotency_key) between 1 and 200),
  request jsonb not null,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')),
  step text check (step in ('images', 'align', 'render', 'publish')),
  progress jsonb not null default '{}'::jsonb,
  attempts integer not null default 0 check (attempts >= 0),
  max_attempts integer not null default 5 check (max_attempts between 1 and 100),
  run_at timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  heartbeat_at timestamptz,
  last_error jsonb,
  result jsonb,
  cancel_requested_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint render_jobs_owner_key unique (owner, idempotency_key)
);

create index if not exists render_jobs_ready_idx on public.render_jobs (run_at, created_at) where status = 'queued';
create index if not exists render_jobs_lease_idx on public.render_jobs (locked_until) where status = 'running';
create index if not exists render_jobs_owner_idx on public.render_jobs (owner, created_at desc);

create table if not exists public.render_steps (
  render_id uuid not null references public.render_jobs (id) on delete cascade,
  step text not null check (step in ('images', 'align', 'render', 'publish')),
  status text not null default 'pending'
    check (status in ('pending', 'submitting', 'running', 'succeeded', 'failed', 'cancelled')),
  step_attempt integer not null default 1 check (step_attempt >= 1),
  backend text check (backend in ('inhouse', 'modal')),
  compute_job_id text,
  idempotency_key text,
  route_reason text,
  progress jsonb not null default '{}'::jsonb,
  output jsonb,
  error jsonb,
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (render_id, step)
);

-- Every routing decision, with its reason (also counted in /metrics).
create table if not exists public.route_decisions (
  id bigserial primary key,
  render_id uuid not null references public.render_jobs (id) on delete cascade,
  step text not null,
  backend text not null check (backend in ('inhouse', 'modal')),
  reason text not null,
  created_at timestamptz not null default now()
);
create index if not exists route_decisions_render_idx on public.route_decisions (render_id, id);

create or replace function public.render_jobs_touch() returns trigger
  language plpgsql
  as $$
begin
  new.updated_at := now();
  return new;
end
$$;

drop trigger if exists render_jobs_touch on public.render_jobs;
create trigger render_jobs_touch before update on public.render_jobs
  for each row execute function public.render_jobs_touch();

-- Row level security: a client sees only its own renders. The worker runs as service_role
-- (or the table owner), which bypasses RLS.
alter table public.render_jobs enable row level security;
alter table public.render_steps enable row level security;
alter table public.route_decisions enable row level security;

drop policy if exists render_jobs_select_own on public.render_jobs;
create policy render_jobs_select_own on public.render_jobs
  for select to authenticated
  using (owner = (select auth.uid())::text);

-- The product pipeline may trigger a render by inserting a row for itself.
drop policy if exists render_jobs_insert_own on public.render_jobs;
create policy render_jobs_insert_own on public.render_jobs
  for insert to authenticated
  with check (owner = (select auth.uid())::text and status = 'queued' and attempts = 0);

drop policy if exists render_steps_select_own on public.render_steps;
create policy render_steps_select_own on public.render_steps
  for select to authenticated
  using (exists (
    select 1 from public.render_jobs j
    where j.id = render_steps.render_id and j.owner = (select auth.uid())::text
  ));

grant usage on schema public to anon, authenticated, service_role;
grant select on public.render_jobs, public.render_steps to authenticated;
grant insert (owner, idempotency_key, request, max_attempts) on public.render_jobs to authenticated;
grant all on public.render_jobs, public.render_steps, public.route_decisions to service_role;
grant usage, select on sequence public.route_decisions_id_seq to service_role;

-- Supabase Realtime: the product UI follows progress on the row.
do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime')
     and not exists (
       select 1 from pg_publication_tables
       where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'render_jobs'
     ) then
    alter publication supabase_realtime add table public.render_jobs;
  end if;
end
$$;
