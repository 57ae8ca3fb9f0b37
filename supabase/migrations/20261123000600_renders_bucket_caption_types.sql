-- The worker publishes the narration's caption files beside each MP4
-- (renders/<owner>/<id>.srt and .vtt, apps/worker/src/pipeline/steps.ts publishStep).
-- With MP4s and JSON only, every copy was refused (415) and the render failed at publish.
update storage.buckets
   set allowed_mime_types = allowed_mime_types || array['application/x-subrip', 'text/vtt']
 where id = 'renders'
   and allowed_mime_types is not null
   and not (allowed_mime_types @> array['application/x-subrip', 'text/vtt']);
