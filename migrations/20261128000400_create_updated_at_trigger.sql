-- One trigger function keeps `updated_at` honest on every table that has the column: it moves
-- when something changed, not when an update rewrote the same values.

create function private.tg__set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new is distinct from old then
    new.updated_at := now();
  end if;
  return new;
end;
$$;

comment on function private.tg__set_updated_at() is
  'Trigger: sets updated_at to the transaction time on every update that changes the row.';
