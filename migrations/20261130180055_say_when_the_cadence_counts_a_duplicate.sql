-- The cadence's comment said a "duplicate" outcome came from the event triggers; their keys are
-- their own (event:...), and since runs take a lock one run cannot take another's keys either.
-- The comment now says what the count means.

comment on function private.run_reminder_cadence(timestamptz) is
  'The daily reminder cadence (pg_cron; as_of moves the clock in tests). For every open case whose '
  'visit day (private.cadence_next_visits) has come, the latest due step of its ladder '
  '(public.reminder_rules) per kind, once (message key cadence:<case>:<step>, task unique per case '
  'and step); after-expiry steps while their applies_until holds; engaged customers (payment in '
  'progress, a reply, a tracked link opened within CADENCE_LINK_OPENED_HOURS) left for another '
  'day; the channel chosen as the comment on messages.choice_reason says, all messages in one call '
  'of the gate; {{payment_link}} is the tracked redirect to the case''s open payment link '
  '(private.tracked_link); {{premium}} is the yearly premium, {{amount_due}} what the case still '
  'owes (public.case_outstanding). A visited case comes back on its next step''s day, or the same '
  'day while a step is still owed; every open case is visited when the ladder or its settings '
  'change (private.cadence_state). One run at a time (advisory lock). Returns a row per outcome: '
  'queued (accepted by the gate, maybe deferred), blocked (recorded blocked by the gate), duplicate '
  '(its key already taken when the gate stored the batch: runs take a lock, so only a writer '
  'outside the cadence could), skipped_engaged, no_channel (no channel with a '
  'template and no recent bounce), tasks_opened. Security definer: a job.';
