-- A message flagged unconfirmed is no longer unconfirmed once its vendor reports it (issue 7,
-- found by a review). private.flag_unconfirmed_messages sets unconfirmed_at on a message still
-- `sent` MESSAGE_UNCONFIRMED_HOURS after the vendor accepted it; a delivery, read or failure
-- reported after that left the flag, so GET /api/vendors/communications and
-- /api/vendors/{id}/performance counted the message as delivered and as unconfirmed at once. A
-- row trigger clears the flag as the status moves to delivered, read, failed or undeliverable
-- (its WHEN is checked without calling the function, so the dispatcher's updates do not pay for
-- it); the analytics facts of the message's day are recounted as for any change of a message.

create function private.tg_messages__clear_unconfirmed() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.unconfirmed_at := null;
  return new;
end;
$$;

comment on function private.tg_messages__clear_unconfirmed() is
  'Clears unconfirmed_at as a flagged message''s status moves to delivered, read, failed or '
  'undeliverable: the vendor confirmed it after all (trigger _330_clear_unconfirmed).';

revoke execute on function private.tg_messages__clear_unconfirmed() from public;

create trigger _330_clear_unconfirmed before update of status on public.messages
  for each row
  when (new.unconfirmed_at is not null
        and new.status in ('delivered', 'read', 'failed', 'undeliverable'))
  execute function private.tg_messages__clear_unconfirmed();

comment on column public.messages.unconfirmed_at is
  'Set when the vendor accepted it but neither delivery nor failure came within '
  'MESSAGE_UNCONFIRMED_HOURS (as with WhatsApp numbers without a payment method); cleared when '
  'a delivery, read or failure is reported later.';
