-- The outbox read by time. GET /api/communications/delivery-status without a customer or case
-- pages through the messages a caller may see newest first, (created_at desc, id), and the
-- vendor and channel reports take the messages queued in a period. Without this index each page
-- sorted every visible message and each report scanned the whole outbox; with it a page walks
-- the index from the newest and a period is one range. created_at is never updated, so the
-- dispatchers' status updates do not touch it.

create index messages_created_idx on public.messages (created_at desc, id);

comment on index public.messages_created_idx is
  'Messages newest first, for the delivery-status pages and the reports'' periods (the API''s '
  'keyset order: created_at desc, id).';
