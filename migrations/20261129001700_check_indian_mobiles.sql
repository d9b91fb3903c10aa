-- Indian mobile numbers are +91 followed by ten digits starting 6-9 (the national numbering plan);
-- the E.164 shape check alone let +910000000000 through. The API validates and normalises with
-- libphonenumber-js; this check is the floor no write path can go under. Rows written before it
-- are checked too when none breaks it; otherwise the constraint guards new writes and names itself
-- in the warning so the data can be cleaned and validated.

alter table public.customers
  add constraint customers_phone_indian_mobile
  check (phone !~ '^\+91' or phone ~ '^\+91[6-9][0-9]{9}$') not valid;

do $$
begin
  if exists (select 1 from public.customers
              where phone ~ '^\+91' and phone !~ '^\+91[6-9][0-9]{9}$') then
    raise warning 'customers hold malformed Indian numbers: clean them, then run '
      '`alter table public.customers validate constraint customers_phone_indian_mobile`';
  else
    alter table public.customers validate constraint customers_phone_indian_mobile;
  end if;
end
$$;

comment on column public.customers.phone is
  'Mobile number in E.164, e.g. +919812345678; Indian numbers are +91 and ten digits from 6-9.';
