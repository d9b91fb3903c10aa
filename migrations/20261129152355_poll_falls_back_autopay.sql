-- A halt (or a failed debit) whose webhooks were all lost now falls back to a payment link too.
-- Only subscription.pending / subscription.halted asked for the fallback (ingest_razorpay_event
-- passes fall_back to record_autopay_state); a reconciliation poll (or any answer recorded by
-- record_subscription_created) that found the subscription pending or halted changed the
-- mandate's status but asked for nothing, so no link and no reminder followed.
-- record_subscription_created now asks for it the way the webhook does, through the same rule
-- of record_autopay_state (the oldest open installment, once per installment), when what it
-- records moves the mandate into pending or halted: the change whose webhook was lost. A
-- poll that finds it still in the state a webhook (or an earlier poll) already recorded asks for
-- nothing more, as no webhook would come for it.

create or replace function private.record_subscription_created(autopay_mandate_id uuid, call_id uuid, subscription jsonb)
returns public.autopay_mandates
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.autopay_mandates;
  theirs text := subscription ->> 'id';
  reported text := subscription ->> 'status';
begin
  if autopay_mandate_id is null or subscription is null or jsonb_typeof(subscription) <> 'object'
     or coalesce(theirs, '') !~ '^sub_[A-Za-z0-9_]+$' then
    raise exception 'record_subscription_created needs our mandate and Razorpay''s subscription (id sub_...)'
      using errcode = '22023';
  end if;
  select m.* into ours from public.autopay_mandates m where m.id = autopay_mandate_id;
  if not found then
    raise exception 'no autopay mandate %', autopay_mandate_id using errcode = 'P0002';
  end if;
  if (ours.razorpay_subscription_id is not null and ours.razorpay_subscription_id <> theirs)
     or (subscription #>> '{notes,autopay_id}') is distinct from null
        and (subscription #>> '{notes,autopay_id}') <> ours.id::text
     or (ours.razorpay_plan_id is not null and subscription ? 'plan_id'
         and subscription ->> 'plan_id' <> ours.razorpay_plan_id) then
    raise exception 'Razorpay''s subscription % (plan %, notes %) is not mandate % (%, plan %)',
      theirs, subscription ->> 'plan_id', subscription -> 'notes', ours.id,
      coalesce(ours.razorpay_subscription_id, 'not yet created'), ours.razorpay_plan_id
      using errcode = '22023';
  end if;
  if exists (select 1 from public.autopay_mandates m
              where m.razorpay_subscription_id = theirs and m.id <> ours.id) then
    raise exception 'subscription % belongs to another mandate', theirs using errcode = '22023';
  end if;

  -- An answer or a poll carries no event time: it is applied (by the rank of states), but sets
  -- no time a later webhook is compared with: Razorpay stamps events in whole seconds, and one
  -- made in the same second as our answer would look older than it.
  -- Found pending or halted while ours said otherwise: the failed debit's webhook was lost; the
  -- installment due falls back to a payment link as subscription.pending / halted would have
  -- made it (record_autopay_state applies it only when the state is taken).
  ours := private.record_autopay_state(
    ours.id, subscription, reported, null,
    coalesce(reported in ('pending', 'halted') and reported <> ours.status, false));
  if call_id is not null then
    perform private.finish_razorpay_call(call_id, ours.id);
  end if;
  return ours;
end;
$$;

comment on function private.record_subscription_created(uuid, uuid, jsonb) is
  'Records Razorpay''s subscription (sub_...) for our mandate: the create call''s answer (call_id '
  'marked succeeded), the answer of a pause or cancel call (call_id likewise), or what the '
  'reconciliation fetched or found by notes.autopay_id (call_id null). The subscription must be '
  'this mandate''s (id, notes.autopay_id, plan_id; else 22023); P0002 for an unknown mandate. '
  'Its state goes through record_autopay_state (creating -> created, then as Razorpay says, '
  'final states final). A subscription that moves the mandate into pending or halted (a failed '
  'debit whose webhook was lost) marks the installment due for a payment-link fallback by the '
  'rule subscription.pending / halted use (once per installment). Returns the mandate: '
  'short_url is where the customer authorises it.';
