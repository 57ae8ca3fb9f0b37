-- GET /v1/renders lists an owner's renders newest first, paging by keyset on (created_at, id):
--   where owner = $1 and (created_at, id) < ($2, $3) order by created_at desc, id desc limit $4
-- This index serves that in order and stops after the page; id breaks ties between renders
-- created in the same microsecond. A Supabase client listing its rows itself gets the same
-- plan: the RLS policy's owner = auth.uid() is the index's equality prefix. No policy changes:
-- the list reads only rows the select policy already grants.
--
-- It supersedes render_jobs_owner_idx (owner, created_at desc): that is its prefix, so it
-- serves whatever the old one did, and one index fewer to write on every insert. Plain (not
-- concurrent) creation: migrations run inside a transaction, here and under `supabase db push`.

create index if not exists render_jobs_owner_list_idx on public.render_jobs (owner, created_at desc, id desc);
drop index if exists public.render_jobs_owner_idx;
