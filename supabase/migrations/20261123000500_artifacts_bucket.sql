-- The `artifacts` bucket: the compute plane's content-addressed inputs and outputs
-- (images, narration audio, captions, chunk files), keyed artifacts/<...>. Private and
-- without client policies: only the service role (compute plane, worker) reads and writes
-- it; clients get signed URLs. Created here so a hosted project needs no manual step
-- (a deployment that renames it with SUPABASE_ARTIFACT_BUCKET creates its own).
-- Its size limit is the project's global limit, like the local stack's (config.toml).

insert into storage.buckets (id, name, public)
values ('artifacts', 'artifacts', false)
on conflict (id) do nothing;
