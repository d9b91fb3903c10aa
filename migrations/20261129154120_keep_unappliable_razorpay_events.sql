-- A correctly signed Razorpay event the database cannot apply is kept, not refused (review of
-- issue 8, finding 7). When apply_razorpay_payment, apply_razorpay_refund, the autopay functions
-- or record_payment_link_created refused the entity (22023: amount 0, an unknown status, not an
-- object; or another data error), the whole ingest rolled back: nothing stored, the webhook
-- answered 422, Razorpay retried it for 24 hours and then disabled the webhook. Now the apply
-- runs in a block of its own (a subtransaction): on a data error (SQLSTATE class 22, a check or
-- not-null violation, or P0002 from a function finding nothing of ours) only the apply is undone,
-- and the raw event stays stored with status kept_for_review and the error in its note; the
-- outcome is kept_for_review (the webhook answers 200, like an event older than the replay
-- window). Serialization failures, deadlocks, timeouts and every other error still raise, so
-- the webhook answers 503 and Razorpay retries. Every branch (payments, orders, links, refunds,
-- subscriptions) is as before.

create or replace function private.ingest_razorpay_event(event_id text, body jsonb, signed_with text)
returns table (outcome text, event_type text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  kind text := body ->> 'event';
  created timestamptz;
  stored uuid;
  replay_window interval := private.setting_interval('RAZORPAY_WEBHOOK_REPLAY_WINDOW', interval '7 days');
  payment_entity jsonb := body #> '{payload,payment,entity}';
  link_entity jsonb := body #> '{payload,payment_link,entity}';
  refund_entity jsonb := body #> '{payload,refund,entity}';
  subscription_entity jsonb := body #> '{payload,subscription,entity}';
  mandate_id uuid;
  state public.autopay_mandates;
  link_id uuid;
  applied text;
  result text;
  why text;
  failed_state text;
  failed_text text;
begin
  if coalesce(length(btrim(ingest_razorpay_event.event_id)), 0) not between 1 and 200
     or body is null or jsonb_typeof(body) <> 'object' or coalesce(kind, '') = ''
     or signed_with is null or signed_with not in ('current', 'previous') then
    raise exception 'a Razorpay event needs its X-Razorpay-Event-Id, a JSON body naming the event '
                    'and the secret that signed it (current or previous)' using errcode = '22023';
  end if;
  if coalesce(body ->> 'created_at', '') ~ '^[0-9]{1,12}$' then
    created := to_timestamp((body ->> 'created_at')::bigint);
  end if;

  insert into public.payment_events as e (event_id, event_type, payload, signed_with, event_created_at, status)
  values (ingest_razorpay_event.event_id, kind, body, signed_with, created, 'kept_for_review')
  on conflict on constraint payment_events_event_id_key do nothing
  returning e.id into stored;
  if stored is null then
    return query select 'duplicate'::text, kind;
    return;
  end if;

  if created is null or created < now() - replay_window then
    update public.payment_events e
       set note = case when created is null then 'no created_at: kept for review'
                       else format('created %s, older than the replay window (%s): kept for review',
                                   created, replay_window) end
     where e.id = stored;
    return query select 'kept_for_review'::text, kind;
    return;
  end if;

  -- Applied in a block of its own: an entity the database cannot apply (a malformed amount,
  -- an unknown status, not an object, a reference that is not ours...) rolls back only what
  -- the apply did; the raw event stays, kept for review with the error, and Razorpay gets its
  -- 200 instead of retrying a correctly signed event for 24 hours and then disabling the
  -- webhook. Serialization failures, deadlocks, timeouts and anything else still raise: the
  -- webhook answers 503 and Razorpay retries.
  begin
    if kind in ('payment.authorized', 'payment.captured', 'payment.failed', 'order.paid',
                'payment_link.paid', 'payment_link.partially_paid') then
      if payment_entity is null then
        result := 'ignored';
        why := 'no payment entity in the payload';
      else
        select a.outcome into applied
          from private.apply_razorpay_payment(payment_entity, 'webhook',
                 case when kind like 'payment_link.%' then link_entity end) a;
        result := case applied when 'unmatched' then 'unmatched' else 'applied' end;
        why := applied;
      end if;
    elsif kind in ('payment_link.expired', 'payment_link.cancelled') then
      select pl.id into link_id from public.payment_links pl
       where pl.razorpay_payment_link_id = link_entity ->> 'id';
      if link_id is null then
        result := 'unmatched';
        why := 'no payment link of ours';
      else
        perform private.record_payment_link_created(link_id, null, link_entity);
        result := 'applied';
        why := link_entity ->> 'status';
      end if;
    elsif kind in ('refund.created', 'refund.processed', 'refund.failed') then
      if refund_entity is null then
        result := 'ignored';
        why := 'no refund entity in the payload';
      else
        select a.outcome into applied from private.apply_razorpay_refund(refund_entity) a;
        result := case applied when 'unmatched' then 'unmatched' else 'applied' end;
        why := applied;
      end if;
    elsif kind like 'subscription.%' then
      if subscription_entity is null or jsonb_typeof(subscription_entity) <> 'object'
         or coalesce(subscription_entity ->> 'id', '') !~ '^sub_[A-Za-z0-9_]+$' then
        result := 'ignored';
        why := 'no subscription entity in the payload';
      else
        select m.id into mandate_id from public.autopay_mandates m
         where m.razorpay_subscription_id = subscription_entity ->> 'id'
            or (m.razorpay_subscription_id is null
                and (subscription_entity #>> '{notes,autopay_id}') ~ '^[0-9a-f-]{36}$'
                and m.id = (subscription_entity #>> '{notes,autopay_id}')::uuid)
         order by m.razorpay_subscription_id is null
         limit 1;
        if mandate_id is null then
          result := 'unmatched';
          why := 'no autopay mandate of ours';
        else
          -- The debit first (payment row, then case), then the mandate: the lock order of every
          -- payment path.
          if kind = 'subscription.charged' and payment_entity is not null then
            select a.outcome into applied
              from private.apply_razorpay_subscription_payment(payment_entity, subscription_entity, 'webhook') a;
          end if;
          state := private.record_autopay_state(
            mandate_id, subscription_entity,
            case kind
              when 'subscription.authenticated' then 'authenticated'
              when 'subscription.activated' then 'active'
              when 'subscription.resumed' then 'active'
              when 'subscription.pending' then 'pending'
              when 'subscription.halted' then 'halted'
              when 'subscription.paused' then 'paused'
              when 'subscription.cancelled' then 'cancelled'
              when 'subscription.completed' then 'completed'
              else subscription_entity ->> 'status' end,
            created, kind in ('subscription.pending', 'subscription.halted'));
          result := 'applied';
          why := concat_ws(', ', applied, 'mandate ' || state.status);
        end if;
      end if;
    else
      result := 'ignored';
      why := 'not an event Py360 acts on';
    end if;
  exception when data_exception or check_violation or not_null_violation or no_data_found then
    get stacked diagnostics failed_state = returned_sqlstate, failed_text = message_text;
    result := 'kept_for_review';
    why := format('could not be applied (SQLSTATE %s): %s', failed_state, failed_text);
  end;

  update public.payment_events e
     set status = result, note = why,
         processed_at = case when result = 'applied' then now() end
   where e.id = stored;
  return query select result, kind;
end;
$$;

comment on function private.ingest_razorpay_event(text, jsonb, text) is
  'Stores a verified Razorpay webhook (event_id: X-Razorpay-Event-Id; body: the parsed JSON; '
  'signed_with: current or previous secret) and applies it in the same transaction. Outcomes: '
  'duplicate (id seen: nothing done), kept_for_review (older than RAZORPAY_WEBHOOK_REPLAY_WINDOW, '
  'or undated; or its entity could not be applied: a data error such as 22023, only the apply '
  'undone, the event stored with the error in its note), applied, ignored (not acted on), '
  'unmatched (about nothing of ours). payment.* and order.paid -> apply_razorpay_payment; '
  'payment_link.paid / partially_paid -> the same with the link; payment_link.expired / cancelled '
  '-> the link''s status; refund.* -> apply_razorpay_refund; subscription.charged -> '
  'apply_razorpay_subscription_payment, then the mandate''s state; other subscription.* -> the '
  'mandate''s state (record_autopay_state; pending and halted mark the installment due for a '
  'payment-link fallback). 22023 on a malformed envelope (no event id, body or event name); '
  'serialization failures, deadlocks and other errors raise (the webhook answers 503).';
