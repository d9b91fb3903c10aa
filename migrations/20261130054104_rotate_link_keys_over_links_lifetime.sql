-- Withdrawal-link key rotation that neither breaks links in date nor leaves a leaked key alive
-- (issue 13, review):
-- * A planned rotation (overlap > 0) must keep the previous key verifying as long as the links it
--   signed live: a link lives CONSENT_LINK_DAYS (30) days, so a shorter overlap (e.g. 7 days)
--   would refuse, as forged, links still in date. Such an overlap is refused (22023, naming the
--   minimum) rather than raised silently: the operator learns the rule and chooses.
-- * The leak response (overlap 0) retires at once every key but the new one, not only the current:
--   after rotate('30 days') then rotate('0 seconds') the key before the leaked one would
--   otherwise still verify until its own retire_at.

create or replace function private.rotate_link_signing_key(overlap interval) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  new_kid integer;
  raw text := private.setting('CONSENT_LINK_DAYS') #>> '{}';
  link_days integer;
  lifetime interval;
begin
  -- The links' lifetime, read as private.consent_link_url and enqueue_messages read it.
  link_days := case when raw ~ '^\d{1,4}$' and raw::integer between 1 and 3650 then raw::integer else 30 end;
  lifetime := make_interval(days => link_days);
  if overlap is null or overlap < interval '0' or overlap > greatest(interval '365 days', lifetime) then
    raise exception 'overlap is an interval of 0 to % days', greatest(365, link_days) using errcode = '22023';
  end if;
  if overlap > interval '0' and overlap < lifetime then
    raise exception 'an overlap other than 0 is at least % days (CONSENT_LINK_DAYS): links signed with the previous key live that long; 0 revokes it at once (a leak)',
      link_days using errcode = '22023';
  end if;
  if overlap = interval '0' then
    -- A leak: no key but the new one verifies from now.
    update private.link_signing_keys set retire_at = now()
     where retire_at is null or retire_at > now();
  else
    update private.link_signing_keys set retire_at = now() + overlap where retire_at is null;
  end if;
  insert into private.link_signing_keys default values returning kid into new_kid;
  return new_kid;
end;
$$;

comment on function private.rotate_link_signing_key(interval) is
  'Rotates the withdrawal links'' signing key: a new current key signs from now. A planned '
  'rotation keeps the previous key verifying until now() + overlap, and the overlap must be at '
  'least the links'' lifetime, CONSENT_LINK_DAYS (30) days, so no link in date breaks (e.g. '
  '''30 days''). An overlap of 0 is the leak response: every key but the new one stops verifying '
  'at once (also an earlier key still inside its own overlap), so every link sent before is '
  'refused. Returns the new kid. 22023 for an overlap below 0, above max(365 days, the links'' '
  'lifetime), or above 0 but shorter than the links'' lifetime (the message names the minimum). '
  'Security definer: the keys are the owner''s only.';

revoke execute on function private.rotate_link_signing_key(interval) from public;
grant execute on function private.rotate_link_signing_key(interval) to service_role;
