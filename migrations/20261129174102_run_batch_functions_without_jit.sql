-- JIT compilation off for the batch functions. Their big set-based statements are estimated far
-- above jit_above_cost on a large book, so Postgres compiled them to machine code on every run,
-- and the compilation cost more than it saved: on 100,000 policies a regular day of the reminder
-- cadence took 6.5 s, of which 4.5 s were JIT (inlining, optimisation, emission of 154
-- functions), and 2.1 s without it. JIT pays off for long analytical scans, not for statements
-- that touch a few thousand rows through indexes; analysts' queries keep it.
-- A later `create or replace` of one of these functions must say `set jit = off` again
-- (tests/database/56_batch_functions_without_jit.test.sql checks it).
alter function private.run_daily_renewal_jobs(timestamptz) set jit = off;
alter function private.run_reminder_cadence(timestamptz) set jit = off;
alter function private.escalate_overdue_tasks(timestamptz) set jit = off;
alter function private.enqueue_messages(jsonb, timestamptz) set jit = off;
alter function private.queue_event_messages(jsonb, timestamptz) set jit = off;
alter function private.claim_messages(text, integer, timestamptz) set jit = off;
alter function private.release_messages(text, uuid[], timestamptz, timestamptz) set jit = off;
alter function private.record_send_results(text, jsonb, timestamptz) set jit = off;
alter function private.record_message_events(text, jsonb) set jit = off;
alter function private.run_campaign_launch(public.campaigns, timestamptz) set jit = off;
alter function private.preview_campaign(uuid, timestamptz) set jit = off;
alter function private.launch_campaign(uuid, timestamptz) set jit = off;
alter function private.launch_scheduled_campaigns(timestamptz) set jit = off;
alter function private.advance_campaign_flows(timestamptz) set jit = off;
