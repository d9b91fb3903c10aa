-- Registering documents never undoes what asked for them (issue 12, after review of its own
-- migrations): a failure in the payments' receipt trigger undid the credit of the payment, one in
-- the cases' notice trigger the quote, as an admin's malformed DOCUMENT_RETENTION_YEARS would
-- (a kind's years that are not a whole number made every insert of a document fail).
-- * The two triggers turn a failure into a warning (as the event-message triggers do).
-- * private.document_retain_until takes a kind's years only when they are a whole number of 0 to
--   100, else the kind's default (8 years; KYC 5; other none), with a warning.
-- * Generated file names keep only [A-Za-z0-9_-] of the payment id and the case number (a file
--   name may not hold a slash; Razorpay ids and our case numbers never do, but nothing forces it).

create or replace function private.document_retain_until(kind public.document_kind, created_at timestamptz)
returns date
language plpgsql stable
set search_path = ''
as $$
declare
  given text := private.setting('DOCUMENT_RETENTION_YEARS') ->> kind::text;
  years integer;
begin
  if given ~ '^[0-9]{1,3}$' and given::integer <= 100 then
    years := given::integer;
  else
    years := case kind when 'kyc' then 5 when 'other' then 0 else 8 end;
    if given is not null then
      raise warning 'DOCUMENT_RETENTION_YEARS.% is not a whole number of years (0 to 100): % used',
        kind, years;
    end if;
  end if;
  if years = 0 then
    return null;
  end if;
  return (private.business_date(created_at) + make_interval(years => years))::date;
end;
$$;

comment on function private.document_retain_until(public.document_kind, timestamptz) is
  'The end of the legal retention of a document of this kind created at created_at: its business '
  'date + DOCUMENT_RETENTION_YEARS of the kind; null for 0. A kind not listed, or listed with '
  'anything but a whole number of 0 to 100, takes its default: 8 years, KYC 5, other none (a '
  'malformed value also warns).';

create or replace function private.ensure_generated_document(kind public.document_kind, case_id uuid,
                                                  payment_id uuid default null)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  renewal public.renewal_cases;
  pay public.payments;
  doc_id uuid;
  name text;
begin
  if kind is null or kind not in ('receipt', 'renewal_notice') then
    raise exception 'only receipts and renewal notices are generated, not %', coalesce(kind::text, 'null')
      using errcode = '22023';
  end if;
  if kind = 'receipt' then
    select p.* into pay from public.payments p where p.id = ensure_generated_document.payment_id;
    if not found then
      raise exception 'a receipt needs a payment, not %', coalesce(payment_id::text, 'null')
        using errcode = 'P0002';
    end if;
    if ensure_generated_document.case_id is not null and ensure_generated_document.case_id <> pay.case_id then
      raise exception 'payment % is not of case %', pay.id, ensure_generated_document.case_id
        using errcode = '22023';
    end if;
    select d.id into doc_id from public.documents d where d.payment_id = pay.id;
    if doc_id is not null then
      return doc_id;
    end if;
    select c.* into renewal from public.renewal_cases c where c.id = pay.case_id;
    name := 'receipt-' || regexp_replace(coalesce(pay.razorpay_payment_id, pay.id::text), '[^A-Za-z0-9_-]', '_', 'g')
            || '.pdf';
  else
    if ensure_generated_document.payment_id is not null then
      raise exception 'only a receipt has a payment' using errcode = '22023';
    end if;
    select c.* into renewal from public.renewal_cases c where c.id = ensure_generated_document.case_id;
    if not found then
      raise exception 'no renewal case %', coalesce(case_id::text, 'null') using errcode = 'P0002';
    end if;
    -- One notice a case a business day: a quote re-done the same day keeps its notice.
    select d.id into doc_id from public.documents d
     where d.case_id = renewal.id and d.kind = 'renewal_notice' and d.generated
       and private.business_date(d.created_at) = private.business_date(now())
     order by d.created_at desc limit 1;
    if doc_id is not null then
      return doc_id;
    end if;
    name := 'renewal-notice-' || regexp_replace(renewal.case_number, '[^A-Za-z0-9_-]', '_', 'g') || '-'
            || to_char(private.business_date(now()), 'YYYYMMDD') || '.pdf';
  end if;
  doc_id := gen_random_uuid();
  insert into public.documents as d (id, kind, customer_id, case_id, policy_id, payment_id,
                                     object_key, file_name, content_type, status, generated)
  values (doc_id, ensure_generated_document.kind, renewal.customer_id, renewal.id, renewal.policy_id,
          pay.id, private.document_object_key(doc_id, renewal.id, renewal.customer_id, name), name,
          'application/pdf', 'pending', true)
  on conflict on constraint documents_payment_id_key do nothing;
  if not found then
    -- A concurrent credit of the same payment registered it first.
    select d.id into doc_id from public.documents d where d.payment_id = pay.id;
  end if;
  return doc_id;
end;
$$;

create or replace function private.tg_payments__register_receipts() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- A receipt must not undo the credit: a failure is a warning (the document can be registered
  -- later: private.ensure_generated_document, or the receipt message's own registration).
  begin
  if tg_op = 'INSERT' then
    perform private.ensure_generated_document('receipt', n.case_id, n.id)
       from new_rows n
      where n.credited_at is not null;
  else
    perform private.ensure_generated_document('receipt', n.case_id, n.id)
       from new_rows n
       join old_rows o on o.id = n.id
      where n.credited_at is not null and o.credited_at is null;
  end if;
  exception when others then
    raise warning 'receipts of credited payments were not registered: % (%)', sqlerrm, sqlstate;
  end;
  return null;
end;
$$;

create or replace function private.tg_renewal_cases__register_notices() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- A notice must not undo the quote: a failure is a warning (the quote's message registers the
  -- notice again when it is queued).
  perform private.ensure_generated_document('renewal_notice', n.id)
     from new_rows n
     join old_rows o on o.id = n.id
    where n.stage = 'quoted' and o.stage is distinct from 'quoted';
  return null;
exception when others then
  raise warning 'renewal notices of quoted cases were not registered: % (%)', sqlerrm, sqlstate;
  return null;
end;
$$;
