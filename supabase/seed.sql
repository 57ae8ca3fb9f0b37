-- Seed data for local development (`supabase db reset` runs it after the migrations).
-- Two owners with one finished and one queued render each, so the RLS policies and the
-- product UI have something to show. Owner ids are the auth.users ids (uuid text).
insert into public.render_jobs (id, owner, idempotency_key, request, status, attempts, result, finished_at)
values
  ('00000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'seed-1',
   '{"title": "Seed: how tides work", "narration_audio": "artifacts/sha256/00/0000000000000000000000000000000000000000000000000000000000000000.wav",
     "scenes": [{"narration": "The moon pulls the ocean.", "image_prompt": "the moon over the sea"}]}'::jsonb,
   'succeeded', 1,
   '{"video": {"key": "renders/11111111-1111-4111-8111-111111111111/00000000-0000-4000-8000-000000000001.mp4", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 0, "content_type": "video/mp4"}}'::jsonb,
   now()),
  ('00000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'seed-2',
   '{"title": "Seed: photosynthesis", "narration_audio": "artifacts/sha256/00/0000000000000000000000000000000000000000000000000000000000000000.wav",
     "scenes": [{"narration": "Leaves make sugar from light.", "image_prompt": "a green leaf in sunlight"}]}'::jsonb,
   'queued', 0, null, null)
on conflict (id) do nothing;
