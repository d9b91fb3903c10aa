-- Erasure (issue 13), after the fact: a vendor's callback about a message of an erased customer
-- can come days later (a WhatsApp read receipt, an SES complaint). Its payload names the
-- recipient again (To, recipient_id, destination), so it is stored as {"erased": true}: the
-- event itself (provider, status, message, time) is kept for the message's delivery record, as
-- private.erase_customer left the earlier ones.
create function private.tg_message_events__forget_erased() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.message_events e set payload = '{"erased": true}'::jsonb
    from new_rows n
    join public.messages m on m.id = n.message_id
    join public.customers c on c.id = m.customer_id
   where e.id = n.id and c.erased_at is not null and e.payload <> '{"erased": true}'::jsonb;
  return null;
end;
$$;

comment on function private.tg_message_events__forget_erased() is
  'Statement trigger (_050_forget_erased, after insert on message_events): the payloads of new '
  'events about messages of erased customers become {"erased": true}. Security definer: the '
  'webhooks insert events as service_role, which may not update them.';

revoke execute on function private.tg_message_events__forget_erased() from public;

create trigger _050_forget_erased after insert on public.message_events
  referencing new table as new_rows
  for each statement execute function private.tg_message_events__forget_erased();
