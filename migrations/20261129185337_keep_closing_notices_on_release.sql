-- The messages about a case's closing (the lapse notice, the renewal confirmation: keys
-- event:<case>:<stage>, queued in the transaction that closes the case) were cancelled by
-- _320_cancel_returning_closed (20261129182416) when a dispatcher handed them back unsent, like
-- the case's reminders. They are told apart by their key, not by time (a replay's as_of may lie
-- before the close): the case's other non-transactional messages are still cancelled.
create or replace function private.tg_messages__cancel_returning_closed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if (new.campaign_id is not null
      and exists (select 1 from public.campaigns c
                   where c.id = new.campaign_id and c.status = 'cancelled'))
     or (new.case_id is not null and new.purpose <> 'transactional'
         and not starts_with(new.idempotency_key, 'event:')
         and exists (select 1 from public.renewal_cases rc
                      where rc.id = new.case_id and private.case_stage_is_final(rc.stage))) then
    new.status := 'cancelled';
    new.cancelled_at := now();
    new.deferred_reason := null;
    new.locked_by := null;
    new.locked_until := null;
  end if;
  return new;
end;
$$;
comment on function private.tg_messages__cancel_returning_closed() is
  'Before update on messages, for a message going back from sending to queued (handed back '
  'without a send permit, or to retry): cancelled instead when its campaign was cancelled, or it '
  'is a reminder (not transactional, not an event:<case>:<stage> notice about the case''s stage) '
  'whose case closed while a dispatcher had it in hand.';
