-- The `renders` bucket: published MP4s at <owner>/<render id>.mp4 (the store key
-- renders/<owner>/<id>.mp4). Private: clients read only their own folder; the worker
-- writes with the service role, which bypasses RLS.

insert into storage.buckets (id, name, public, allowed_mime_types)
values ('renders', 'renders', false, array['video/mp4'])
on conflict (id) do nothing;

drop policy if exists "renders: owners read their folder" on storage.objects;
create policy "renders: owners read their folder" on storage.objects
  for select to authenticated
  using (bucket_id = 'renders' and (storage.foldername(name))[1] = (select auth.uid())::text);
