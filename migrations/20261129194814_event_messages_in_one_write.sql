-- The event messages wrote each new message twice: the gate inserted it, then a second statement
-- set its choice_reason. The gate has written a request's choice_reason as it inserts since
-- 20261129181204, and the events' requests carry it, so the update did again what the insert had
-- done. Behaviour unchanged.
create or replace function private.queue_event_messages(requests jsonb, as_of timestamptz) returns integer
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
begin
  if requests is null or jsonb_array_length(requests) = 0 then
    return 0;
  end if;
  return (select count(*) from private.enqueue_messages(requests, as_of) e where e.created);
exception when others then
  raise warning 'event messages were not queued: % (%)', sqlerrm, sqlstate;
  return 0;
end;
$$;
comment on function private.queue_event_messages(jsonb, timestamptz) is
  'Queues event messages through the gate (enqueue_messages) in one call and returns how many '
  'were created (a key seen before creates none); the gate writes a request''s choice_reason on '
  'the message it creates. A failure is a warning and 0, never an error: a message must not undo '
  'the stage change or consent that asked for it. Security definer: called by the event '
  'triggers, whoever made the change.';
