-- Erasure follow-up (issue 13): a Razorpay webhook can arrive after the erasure about an erased
-- customer's money (a refund processed days later, a late payment.captured retried by Razorpay).
-- Its payload names the person again (email, contact, notes with their name, card holder, VPA),
-- and private.erase_customer had already run. Such an event is applied as any other (the apply
-- functions read its notes and entities first), and the moment the ingest records it done
-- (processed_at set; or status ignored, which nothing reads again) its payload loses its
-- personal keys through private.strip_personal_keys, the erasure's own list: ids, amounts,
-- statuses and times stay, so the payment record and the policy timeline still link it.
-- An event kept for review or unmatched keeps its payload until it is applied (the review needs
-- it; the retention purge empties it after WEBHOOK_PAYLOAD_RETENTION_DAYS anyway).
-- The customer is found through the Razorpay ids of the payload (private.razorpay_event_ids, and
-- a subscription's id): payments, orders, payment links, refunds and mandates of their cases.

create function private.razorpay_ids_of_erased_customer(ids text[]) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select cardinality(ids) > 0 and exists (
    select 1
      from public.renewal_cases c
      join public.customers cu on cu.id = c.customer_id
     where cu.erased_at is not null
       and c.id in (select p.case_id from public.payments p
                     where p.razorpay_payment_id = any (ids) or p.razorpay_order_id = any (ids)
                    union all
                    select o.case_id from public.payment_orders o where o.razorpay_order_id = any (ids)
                    union all
                    select l.case_id from public.payment_links l
                     where l.razorpay_payment_link_id = any (ids) or l.razorpay_order_id = any (ids)
                    union all
                    select r.case_id from public.refunds r where r.razorpay_refund_id = any (ids)
                    union all
                    select m.case_id from public.autopay_mandates m
                     where m.razorpay_subscription_id = any (ids)))
$$;

comment on function private.razorpay_ids_of_erased_customer(text[]) is
  'Whether any of these Razorpay ids (payment, order, payment link, refund, subscription) is of a '
  'case whose customer is erased (customers.erased_at set). Security definer: called by the '
  'payment_events trigger whoever stores the event.';

revoke execute on function private.razorpay_ids_of_erased_customer(text[]) from public;

create function private.tg_payment_events__forget_erased() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if private.razorpay_ids_of_erased_customer(
       private.razorpay_event_ids(new.payload)
       || coalesce(array[nullif(new.payload #>> '{payload,subscription,entity,id}', '')], '{}')) then
    new.payload := private.strip_personal_keys(new.payload);
  end if;
  return new;
end;
$$;

comment on function private.tg_payment_events__forget_erased() is
  'Before a payment event is recorded done (processed_at set, or status ignored): when it is '
  'about an erased customer''s payment, order, link, refund or mandate, its payload loses its '
  'personal keys (private.strip_personal_keys). Runs after the apply, which read them. Security '
  'definer: the webhook stores events as service_role.';

revoke execute on function private.tg_payment_events__forget_erased() from public;

create trigger _050_forget_erased_insert before insert on public.payment_events
  for each row when (new.processed_at is not null or new.status = 'ignored')
  execute function private.tg_payment_events__forget_erased();

create trigger _050_forget_erased_update before update of processed_at, status on public.payment_events
  for each row when (new.processed_at is not null and old.processed_at is null
                     or new.status = 'ignored' and old.status is distinct from 'ignored')
  execute function private.tg_payment_events__forget_erased();
