-- The desk's writes are judged on the real clock (found with the sweep after 20261202062257).
-- private.job_clock() is the time the renewal triggers judge by: the running daily job's as_of,
-- which private.advance_lapses and private.renew_succeeded_terms put in the transaction's
-- py360.as_of setting, else now(). A custom setting is one any session may set, so a signed-in
-- agent in SQL could `set local py360.as_of = '2020-01-01'` and then quote a case: the case's
-- event messages (tg_renewal_cases__enqueue_messages) and its renewal notice
-- (tg_renewal_cases__queue_renewal_notices) went through the gate at 2020, their frequency cap and
-- send hours judged then, and due in 2020, so sent at once whatever the hour.
-- Now job_clock() reads py360.as_of only outside a desk session: for anon and authenticated (the
-- role set for the request, which a definer function does not change) it is now(). The daily jobs
-- that set it run as the owner (pg_cron) or service_role, never as the desk, so their clock is
-- unchanged; tests moving it run them the same way.

create or replace function private.job_clock() returns timestamptz
language plpgsql stable
set search_path = ''
as $$
begin
  if coalesce(current_setting('role', true), 'none') in ('anon', 'authenticated') then
    return now();
  end if;
  return coalesce(nullif(current_setting('py360.as_of', true), '')::timestamptz, now());
end;
$$;

comment on function private.job_clock() is
  'The time the renewal rules and the event-message triggers judge by: the running daily job''s '
  'as_of (py360.as_of, set by advance_lapses and renew_succeeded_terms), else now(). Always now() '
  'in a desk session (role anon or authenticated), who could otherwise set py360.as_of '
  'themselves and move the clock of the messages their writes queue.';
