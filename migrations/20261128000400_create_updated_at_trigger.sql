-- One trigger function keeps `updated_at` honest on every table that has the column.

create function private.tg__set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

comment on function private.tg__set_updated_at() is
  'Trigger: sets updated_at to the transaction time on every update.';
