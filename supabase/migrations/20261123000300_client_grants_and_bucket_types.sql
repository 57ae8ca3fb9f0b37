-- Clients get exactly the grants 20261123000100 writes, on Supabase too; the `renders`
-- bucket takes the JSON it is sent.
--
-- 1. A Supabase project's default privileges grant anon and authenticated ALL on every new
-- table in public. Row-level security still limits reads to a client's own rows, but the
-- column-level INSERT grant meant nothing: a signed-in client could insert its own render
-- with run_at in 1970 (first in the claim order), a forged result or max_attempts = 100.
-- So take everything back and grant again only what a client needs: read its own jobs
-- and steps, and queue a render with (owner, idempotency_key, request). Idempotent.

revoke all on public.render_jobs, public.render_steps, public.route_decisions from anon, authenticated;
revoke all on sequence public.route_decisions_id_seq from anon, authenticated;
grant select on public.render_jobs, public.render_steps to authenticated;
grant insert (owner, idempotency_key, request) on public.render_jobs to authenticated;

do $$
begin
  -- the worker's bookkeeping table (absent when only `supabase db push` ran)
  if to_regclass('public.canvascast_migrations') is not null then
    revoke all on public.canvascast_migrations from anon, authenticated;
  end if;
end
$$;

-- 2. The `renders` bucket also holds the image cache's JSON pointers
-- (renders/image-cache/<key>.json, modal_functions/images/cache.py); with MP4s only, every
-- cache write was refused (415) and every image was generated again.
update storage.buckets
   set allowed_mime_types = array['video/mp4', 'application/json']
 where id = 'renders' and not ('application/json' = any (coalesce(allowed_mime_types, array['application/json'])));
