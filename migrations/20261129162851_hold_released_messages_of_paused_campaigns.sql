-- A paused campaign held only the messages that were queued when it was paused: one the
-- dispatcher had already claimed went back to `queued` with an ordinary retry time when it was
-- handed back unsent (release_messages: no permit) or failed transiently (record_send_results),
-- and a later claim took it despite the pause. Now a message of a paused campaign that returns
-- to `queued` is held as pause_campaign holds it (next_attempt_at infinity, deferred_reason
-- campaign_paused), so resume finds it with the others. A row trigger whose WHEN clause is false
-- for every message without a campaign or not returning to queued: the dispatcher's hot path
-- pays one comparison. The claim itself is not touched.

create function private.tg_messages__hold_paused_campaigns() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.campaigns c where c.id = new.campaign_id and c.status = 'paused') then
    new.next_attempt_at := 'infinity';
    new.deferred_reason := 'campaign_paused';
  end if;
  return new;
end;
$$;

comment on function private.tg_messages__hold_paused_campaigns() is
  'Before update of messages returning to queued: a message of a paused campaign is held '
  '(next_attempt_at infinity, deferred_reason campaign_paused). Security definer: reads the '
  'campaign whoever hands the message back.';

revoke execute on function private.tg_messages__hold_paused_campaigns() from public, anon, authenticated, service_role;

create trigger _310_hold_paused_campaigns before update on public.messages
  for each row
  when (new.campaign_id is not null and new.status = 'queued' and old.status <> 'queued')
  execute function private.tg_messages__hold_paused_campaigns();
