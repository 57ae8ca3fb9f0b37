-- Seed data for local development only (`supabase db reset` runs it after the migrations;
-- `supabase db push` never does unless given --include-seed: do not seed a hosted project).
-- Two owners, one render each, so the RLS policies and the product UI have something to show:
-- 11111111-… has a finished render, 22222222-… a queued one. Owner ids are auth.users ids
-- (uuid text). Both rows are what the worker itself would write: each `request` is a valid
-- RenderRequest and the finished one's `result` a valid RenderOutput (tests/test_deploy_files.py).
-- The queued render is held (run_at far in the future): its narration artifact does not exist,
-- so a local worker must not claim it and burn its attempts failing.
insert into public.render_jobs (id, owner, idempotency_key, request, status, attempts, run_at, result, finished_at)
values
  ('00000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'seed-1',
   '{"title": "Seed: how tides work", "narration_audio": "artifacts/sha256/00/0000000000000000000000000000000000000000000000000000000000000000.wav",
     "scenes": [{"narration": "The moon pulls the ocean.", "image_prompt": "the moon over the sea"}]}'::jsonb,
   'succeeded', 1, now(),
   '{"video": {"key": "renders/11111111-1111-4111-8111-111111111111/00000000-0000-4000-8000-000000000001.mp4",
               "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 0, "content_type": "video/mp4"},
     "source": {"key": "artifacts/sha256/00/0000000000000000000000000000000000000000000000000000000000000000.mp4",
                "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 0, "content_type": "video/mp4"},
     "duration_ms": 3000, "captions": 5, "degraded": false}'::jsonb,
   now()),
  ('00000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'seed-2',
   '{"title": "Seed: photosynthesis", "narration_audio": "artifacts/sha256/00/0000000000000000000000000000000000000000000000000000000000000000.wav",
     "scenes": [{"narration": "Leaves make sugar from light.", "image_prompt": "a green leaf in sunlight"}]}'::jsonb,
   'queued', 0, '2999-01-01T00:00:00Z', null, null)
on conflict (id) do nothing;
