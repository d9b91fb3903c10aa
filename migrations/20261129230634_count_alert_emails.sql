-- What became of the emails each alert sent (issue 11, monitoring): staff messages stay out of
-- the desk's RLS (20261129225450), so GET /api/alerts shows admins their alerts' emails through
-- this function: per alert, the raised and resolved emails by status (queued, sent, delivered,
-- failed, blocked, ...), as the dispatcher and the vendors' callbacks moved them.

create function private.alert_emails(alert_ids uuid[])
returns table (alert_id uuid, kind text, status public.message_status, emails integer)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- The caller's role as set for the request (a definer function's current_user is its owner).
  if current_setting('role') not in ('none', 'postgres', 'service_role') and not private.is_admin() then
    raise exception 'only admins read the alerts'' emails' using errcode = '42501';
  end if;
  if cardinality(alert_ids) > 1000 then
    raise exception 'at most 1000 alerts at a time' using errcode = '22023';
  end if;
  -- Staff messages are few: the partial index on staff_id holds them all. Their keys are
  -- staff:<admin>:alert:<alert id>:<raised|resolved> (private.evaluate_alerts).
  -- The cast only where the key has that shape (a report's key has none).
  return query
  select k.alert_id, k.kind, k.status, count(*)::integer
    from (select case when m.idempotency_key ~ '^staff:[0-9a-f-]{36}:alert:[0-9a-f-]{36}:(raised|resolved)$'
                      then split_part(m.idempotency_key, ':', 4)::uuid end as alert_id,
                 split_part(m.idempotency_key, ':', 5) as kind, m.status
            from public.messages m
           where m.staff_id is not null) k
   where k.alert_id = any (alert_ids)
   group by 1, 2, 3
   order by 1, 2, 3;
end;
$$;

comment on function private.alert_emails(uuid[]) is
  'For each alert of alert_ids (at most 1000): its emails to admins, by kind (raised, resolved) '
  'and status, counted. Admins and service_role (42501 for anyone else). Security definer: staff '
  'messages are hidden from the API roles by RLS.';

revoke execute on function private.alert_emails(uuid[]) from public;
grant execute on function private.alert_emails(uuid[]) to authenticated, service_role;
