-- Analysts' limits that they cannot lift (review of issue 11, defect 4). The group's
-- statement_timeout, idle_in_transaction_session_timeout and default_transaction_read_only are
-- only defaults: an analyst may `set statement_timeout = 0` for their session, or even
-- `alter role <self> set ...` (any role may change its own user-settable defaults), so they limit
-- nothing. What Postgres does enforce for them is kept as it was (no grant beyond analytics, no
-- write on any table, 5 connections per login). Added here:
-- * private.enforce_analyst_limits(as_of), pg_cron every minute ("enforce-analyst-limits"):
--   cancels (pg_cancel_backend) the running statement of every session of a member of
--   `analyst` that has run longer than ANALYST_STATEMENT_LIMIT_SECONDS (60), and ends
--   (pg_terminate_backend) every such session idle in a transaction longer than
--   ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS (300). So a statement is stopped between 60 and
--   about 120 s whatever the analyst set, and an open transaction within about 6 minutes.
--   The function is a security definer owned by the migrating role (postgres), and pg_cron runs
--   the job as postgres: locally a superuser; on a Supabase project postgres must be able to see
--   other roles' sessions and signal them (membership of pg_read_all_stats and
--   pg_signal_backend): the function checks and fails loudly (42501, in cron.job_run_details)
--   when it cannot, rather than doing nothing.
-- * temp_file_limit for members of analyst, set on each login (a superuser-only setting: an
--   analyst can neither `set` nor `alter role ... set` it). Postgres does not pass a group's
--   settings to its members: the watchdog sets it on any analyst login that lacks it (within a
--   minute of the login's creation), when its owner may (a superuser; otherwise a warning).
-- Not done: revoking TEMP on the database. TEMP is granted to PUBLIC; a revoke from analyst or
-- its logins does not subtract from PUBLIC's grant, and revoking it from PUBLIC would change every
-- other role (authenticated, service_role, Supabase's own). Temporary tables live in the
-- analyst's own session, are bounded by temp_file_limit, and can only hold what analytics shows.

insert into public.app_settings (key, value, description) values
  ('ANALYST_STATEMENT_LIMIT_SECONDS', '60',
   'An analyst''s statement running longer than this many seconds is cancelled by '
   'private.enforce_analyst_limits (pg_cron, every minute), whatever statement_timeout the '
   'analyst set. 10 to 3600.'),
  ('ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS', '300',
   'An analyst''s session idle in an open transaction longer than this many seconds is ended by '
   'private.enforce_analyst_limits (pg_cron, every minute). 30 to 86400.'),
  ('ANALYST_TEMP_FILE_LIMIT', '"1GB"',
   'temp_file_limit set on every analyst login (sorts, hashes and temporary tables spilled to '
   'disk per session); a superuser-only setting the analyst cannot change. -1: no limit.')
on conflict (key) do nothing;

create function private.enforce_analyst_limits(as_of timestamptz default now())
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  statement_limit integer;
  idle_limit integer;
  temp_limit text := coalesce(private.setting('ANALYST_TEMP_FILE_LIMIT') #>> '{}', '1GB');
  cancelled integer := 0;
  terminated integer := 0;
  login record;
  s record;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  -- Settings out of range fall back to the defaults rather than disable the limit.
  statement_limit := case when jsonb_typeof(private.setting('ANALYST_STATEMENT_LIMIT_SECONDS')) = 'number'
                               and (private.setting('ANALYST_STATEMENT_LIMIT_SECONDS') #>> '{}')::numeric between 10 and 3600
                          then (private.setting('ANALYST_STATEMENT_LIMIT_SECONDS') #>> '{}')::numeric::integer
                          else 60 end;
  idle_limit := case when jsonb_typeof(private.setting('ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS')) = 'number'
                          and (private.setting('ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS') #>> '{}')::numeric between 30 and 86400
                     then (private.setting('ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS') #>> '{}')::numeric::integer
                     else 300 end;
  -- Without these the sessions' states are hidden and signals refused: say so instead of
  -- quietly enforcing nothing.
  if not (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user)
     and not (pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'usage')
              and pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'usage')) then
    raise exception 'enforce_analyst_limits: % needs pg_read_all_stats and pg_signal_backend', current_user
      using errcode = '42501';
  end if;

  -- Logins that lack the temp file limit get it (new ones, or one that was cleared).
  for login in
    select r.rolname from pg_catalog.pg_roles r
     where r.rolcanlogin and not r.rolsuper
       and pg_catalog.pg_has_role(r.oid, 'analyst', 'member')
       and r.rolname <> 'analyst'
       and not exists (select 1 from pg_catalog.pg_db_role_setting d
                        where d.setrole = r.oid and d.setdatabase = 0
                          and format('temp_file_limit=%s', temp_limit) = any (d.setconfig))
  loop
    begin
      execute format('alter role %I set temp_file_limit = %L', login.rolname, temp_limit);
    exception when insufficient_privilege then
      -- A superuser-only setting: an owner that is not one leaves it (the limits below stand).
      raise warning 'enforce_analyst_limits: cannot set temp_file_limit on %: %', login.rolname, sqlerrm;
    end;
  end loop;

  for s in
    select a.pid, a.state, a.query_start, a.state_change
      from pg_catalog.pg_stat_activity a
      join pg_catalog.pg_roles r on r.oid = a.usesysid
     where a.backend_type = 'client backend' and a.pid <> pg_catalog.pg_backend_pid()
       and not r.rolsuper and pg_catalog.pg_has_role(r.oid, 'analyst', 'member')
  loop
    if s.state in ('active', 'fastpath function call')
       and s.query_start < as_of - make_interval(secs => statement_limit) then
      if pg_catalog.pg_cancel_backend(s.pid) then
        cancelled := cancelled + 1;
      end if;
    elsif s.state in ('idle in transaction', 'idle in transaction (aborted)')
       and s.state_change < as_of - make_interval(secs => idle_limit) then
      if pg_catalog.pg_terminate_backend(s.pid) then
        terminated := terminated + 1;
      end if;
    end if;
  end loop;
  return jsonb_build_object('cancelled', cancelled, 'terminated', terminated,
                            'statement_limit_seconds', statement_limit,
                            'idle_in_transaction_limit_seconds', idle_limit);
end;
$$;

comment on function private.enforce_analyst_limits(timestamptz) is
  'The analysts'' enforced limits (pg_cron every minute, enforce-analyst-limits): cancels the '
  'statement of any session of a member of analyst running longer than '
  'ANALYST_STATEMENT_LIMIT_SECONDS (default 60) before as_of, ends any such session idle in a '
  'transaction longer than ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS (default 300), and sets '
  'temp_file_limit (ANALYST_TEMP_FILE_LIMIT) on any analyst login without it. Returns '
  '{cancelled, terminated, statement_limit_seconds, idle_in_transaction_limit_seconds}. Errors: '
  '22023 for a non-finite as_of; 42501 when its owner can neither see nor signal other roles'' '
  'sessions (needs superuser, or pg_read_all_stats and pg_signal_backend). Security definer: '
  'signals other roles'' backends; pg_cron and service_role only.';

revoke execute on function private.enforce_analyst_limits(timestamptz) from public;
grant execute on function private.enforce_analyst_limits(timestamptz) to service_role;

select cron.schedule('enforce-analyst-limits', '* * * * *',
                     $$select private.enforce_analyst_limits()$$);
