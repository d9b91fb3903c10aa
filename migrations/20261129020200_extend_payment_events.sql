-- Razorpay webhooks as received, now with what became of each: applied, ignored (an event we do
-- not act on, or not yet: subscriptions wait for the autopay slice), kept_for_review (older than
-- RAZORPAY_WEBHOOK_REPLAY_WINDOW with an id never seen: a replay we do not apply blindly) or
-- unmatched (about no order, link, payment or refund of ours). Also which webhook secret signed
-- it (the previous one is accepted during a rotation) and when Razorpay created it.

alter table public.payment_events
  add column status text not null default 'kept_for_review'
    check (status in ('applied', 'ignored', 'kept_for_review', 'unmatched')),
  add column signed_with text check (signed_with in ('current', 'previous')),
  add column event_created_at timestamptz,
  add column note text;

update public.payment_events set status = 'applied' where processed_at is not null;

create index payment_events_review_idx on public.payment_events (received_at)
  where status in ('kept_for_review', 'unmatched');

comment on table public.payment_events is
  'Razorpay webhooks as received, once per X-Razorpay-Event-Id, stored in the transaction that '
  'applies them. Internal: no desk user reads it.';
comment on column public.payment_events.status is
  'applied: acted on; ignored: nothing to do (or not yet handled, e.g. subscriptions); '
  'kept_for_review: older than RAZORPAY_WEBHOOK_REPLAY_WINDOW, stored but not applied; '
  'unmatched: about nothing of ours. Rows stored by anything but the webhook start kept_for_review.';
comment on column public.payment_events.signed_with is
  'Which webhook secret verified it: current, or previous during a rotation window; null for rows '
  'from before this was recorded.';
comment on column public.payment_events.event_created_at is 'When Razorpay created the event (its created_at).';
comment on column public.payment_events.note is 'Why it was ignored, kept or unmatched, in words; null when applied.';

insert into public.app_settings (key, value, description) values
  ('RAZORPAY_WEBHOOK_REPLAY_WINDOW', '"7 days"',
   'How old a webhook with an unseen event id may be and still be applied (an interval). Razorpay '
   'retries for 24 hours and dashboard replays reach 7 days back; older ones are kept for review.');
