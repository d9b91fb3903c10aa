-- The retention purge's nightly job commits as it goes: a procedure runs
-- private.purge_expired_data again and again, committing after each run, until a run is complete
-- (or 100 runs). Each run purges at most RETENTION_MAX_ROWS_PER_RUN rows of a kind, now 10000 by
-- default (was 100000): one transaction holds the locks of at most that many rows of a kind for
-- well under a second, and a backlog (the first night on a big book) still drains the same
-- night, a retention_runs row per round. pg_cron runs `call` at top level, where a procedure may
-- commit. No `set search_path` clause and no security definer here: either would forbid the
-- commits (every name is schema-qualified instead); the runs themselves are the security-definer
-- function's.

update public.app_settings
   set value = '10000',
       description = 'Rows of each kind one retention run purges at most (1000 to 100000000); the '
                     'nightly job commits and runs again until a run is complete, so this bounds '
                     'how long one transaction holds its locks, not what a night purges.'
 where key = 'RETENTION_MAX_ROWS_PER_RUN' and value = '100000'::jsonb;

create procedure private.purge_expired_data_in_rounds(max_rounds integer default 100)
language plpgsql
as $$
declare
  result jsonb;
  rounds integer := 0;
begin
  if max_rounds is null or max_rounds not between 1 and 10000 then
    raise exception 'purge_expired_data_in_rounds runs 1 to 10000 rounds, not %', max_rounds
      using errcode = '22023';
  end if;
  loop
    result := private.purge_expired_data(now());
    rounds := rounds + 1;
    commit;
    exit when (result ->> 'complete')::boolean or rounds >= max_rounds;
  end loop;
end;
$$;

comment on procedure private.purge_expired_data_in_rounds(integer) is
  'The nightly retention job (pg_cron purge-expired-data): private.purge_expired_data(now()) '
  'committed run by run until a run is complete or after max_rounds runs (1 to 10000, default '
  '100), so no transaction holds more than RETENTION_MAX_ROWS_PER_RUN rows of a kind. Must be '
  'called at top level (CALL outside a transaction block): it commits. Security invoker (a '
  'definer procedure may not commit): pg_cron and service_role.';

revoke execute on procedure private.purge_expired_data_in_rounds(integer) from public;
grant execute on procedure private.purge_expired_data_in_rounds(integer) to service_role;

-- Same name, same time: cron.schedule replaces the command.
select cron.schedule('purge-expired-data', '45 21 * * *',
                     'call private.purge_expired_data_in_rounds()');
