-- Supabase shim: what a Supabase project already has, for plain Postgres and PGlite.
--
-- On Supabase every statement here is a no-op (each object is created only when it is
-- missing), so the same migration set runs on Supabase, a local Postgres and the
-- embedded PGlite. It provides:
--   * the roles anon, authenticated and service_role (service_role bypasses RLS);
--   * auth.uid(), auth.role() and auth.jwt(), read from the `request.jwt.claims`
--     setting exactly as PostgREST sets it per request;
--   * storage.buckets, storage.objects and storage.foldername(), enough for bucket rows
--     and RLS policies on objects.

-- Roles belong to the whole cluster, not to one database: two databases of one cluster
-- migrated at once (the worker's test files) both see a role missing, and the second
-- CREATE ROLE fails. Each create takes either outcome of that race.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    begin create role anon nologin noinherit;
    exception when duplicate_object or unique_violation then null; end;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    begin create role authenticated nologin noinherit;
    exception when duplicate_object or unique_violation then null; end;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    begin create role service_role nologin noinherit bypassrls;
    exception when duplicate_object or unique_violation then null; end;
  end if;
end
$$;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

do $$
begin
  if not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth' and p.proname = 'jwt'
  ) then
    create function auth.jwt() returns jsonb
      language sql stable
      as $f$ select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $f$;
  end if;
  if not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth' and p.proname = 'uid'
  ) then
    create function auth.uid() returns uuid
      language sql stable
      as $f$ select nullif(auth.jwt() ->> 'sub', '')::uuid $f$;
  end if;
  if not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth' and p.proname = 'role'
  ) then
    create function auth.role() returns text
      language sql stable
      as $f$ select nullif(auth.jwt() ->> 'role', '') $f$;
  end if;
end
$$;

create schema if not exists storage;
grant usage on schema storage to anon, authenticated, service_role;

do $$
begin
  if to_regclass('storage.buckets') is null then
    create table storage.buckets (
      id text primary key,
      name text not null unique,
      public boolean not null default false,
      file_size_limit bigint,
      allowed_mime_types text[],
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
  end if;
  if to_regclass('storage.objects') is null then
    create table storage.objects (
      id uuid primary key default gen_random_uuid(),
      bucket_id text not null references storage.buckets (id),
      name text not null,
      owner uuid,
      metadata jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (bucket_id, name)
    );
    alter table storage.objects enable row level security;
    grant select on storage.buckets to anon, authenticated;
    grant select, insert, update, delete on storage.objects to authenticated;
    grant all on storage.buckets, storage.objects to service_role;
  end if;
  if not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'storage' and p.proname = 'foldername'
  ) then
    create function storage.foldername(name text) returns text[]
      language sql immutable
      as $f$ select (string_to_array(name, '/'))[1:array_length(string_to_array(name, '/'), 1) - 1] $f$;
  end if;
end
$$;
