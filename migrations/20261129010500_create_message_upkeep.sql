-- Two jobs of the outbox's upkeep: flag messages a vendor accepted but never confirmed (as
-- happens to WhatsApp numbers without a payment method, where the API answers success and no
-- status follows), and redrive dead letters for an admin, by reason, provider or template.

create function private.flag_unconfirmed_messages(as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  hours integer := coalesce((private.setting('MESSAGE_UNCONFIRMED_HOURS') #>> '{}')::integer, 24);
  flagged integer;
begin
  update public.messages m
     set unconfirmed_at = as_of
   where m.status = 'sent' and m.unconfirmed_at is null
     and m.sent_at <= as_of - make_interval(hours => hours);
  get diagnostics flagged = row_count;
  return flagged;
end;
$$;

comment on function private.flag_unconfirmed_messages(timestamptz) is
  'Flags (unconfirmed_at) messages still sent, with neither delivery nor failure reported, '
  'MESSAGE_UNCONFIRMED_HOURS after the vendor accepted them. Returns how many it flagged. Run '
  'hourly by pg_cron; service_role may run it too.';

create function private.redrive_dead_messages(
  dead_reason text default null,
  provider text default null,
  template_code text default null,
  as_of timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  redriven integer;
begin
  -- The caller's role as set for the session (a definer function's current_user is its owner).
  if current_setting('role') not in ('none', 'postgres', 'service_role') and not private.is_admin() then
    raise exception 'only admins redrive dead messages' using errcode = '42501';
  end if;
  if dead_reason is not null and dead_reason not in ('stalled', 'retries_exhausted') then
    raise exception 'dead_reason is stalled or retries_exhausted' using errcode = '22023';
  end if;
  update public.messages m
     set status = 'queued', dead_reason = null, dead_at = null, attempts = 0,
         provider_attempts = 0, stalls = 0, provider = null, next_attempt_at = as_of,
         deferred_reason = null, locked_by = null, locked_until = null
   where m.status = 'dead'
     and (redrive_dead_messages.dead_reason is null or m.dead_reason = redrive_dead_messages.dead_reason)
     and (redrive_dead_messages.provider is null or m.provider = redrive_dead_messages.provider)
     and (redrive_dead_messages.template_code is null or m.template_id in (
            select t.id from public.templates t where t.code = redrive_dead_messages.template_code));
  get diagnostics redriven = row_count;
  if redriven > 0 then
    perform pg_notify('messages_queued', '');
  end if;
  return redriven;
end;
$$;

comment on function private.redrive_dead_messages(text, text, text, timestamptz) is
  'Puts dead letters back in the queue, all or those of a dead_reason (stalled, '
  'retries_exhausted), a provider or a template code: counters reset, provider chosen afresh, '
  'due at as_of. Idempotent: a second call finds no dead letters left to move. Admins (and '
  'service_role) only: 42501 for others. Returns how many it redrove. Only dead messages move: '
  'blocked, failed and cancelled ones never do, whoever asks (a regulatory opt-out is never '
  'overridden).';

revoke execute on function private.flag_unconfirmed_messages(timestamptz),
  private.redrive_dead_messages(text, text, text, timestamptz) from public;
grant execute on function private.flag_unconfirmed_messages(timestamptz) to service_role;
grant execute on function private.redrive_dead_messages(text, text, text, timestamptz)
  to authenticated, service_role;

-- Hourly, where pg_cron runs (the local cluster and Supabase alike).
select cron.schedule('flag-unconfirmed-messages', '17 * * * *',
                     'select private.flag_unconfirmed_messages()');
