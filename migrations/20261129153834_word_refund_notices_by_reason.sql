-- Each refund-due message says why, truthfully (review of issue 8, findings 3 and 5). The one
-- payment_refund_due template said "nothing was due" for every flag, also to a customer whose
-- payment came after its order expired while the premium was still owed, who might then let the
-- policy lapse. Now one template per review_reason (email, English and Hindi; the gate picks the
-- customer's language), chosen by private.queue_payment_message under the same idempotency key
-- (refund_due:<razorpay payment id>, one message per payment):
--   payment_refund_due_order_expired      came after the order's payment window; refunded;
--                                         {{amount_due}} still due: pay again with a new link
--                                         or order;
--   payment_refund_due_case_closed        the case was closed when it arrived; refunded;
--   payment_refund_due_nothing_due        nothing was due (the old wording);
--   payment_refund_due_overpaid           {{refund_amount}} more than was due: the surplus is
--                                         refunded, what was due is paid;
--   payment_refund_due_currency_mismatch  not in rupees; refunded; {{amount_due}} still due.
-- An order_expired or currency_mismatch payment on a case that no longer owes anything gets the
-- nothing_due wording (it would otherwise say "₹0 is still due"). payment_refund_due itself
-- becomes a generic fallback (used when the reason's template is missing or switched off) that
-- claims no reason; its seeded rows are reworded only where nobody edited them.
-- One template per reason rather than a sentence in a variable: an Indian SMS template fills
-- each {#var#} slot with at most 30 characters (DLT), and WhatsApp and SMS versions are approved
-- text by text, so each reason is its own approved text there too.
-- A debit or payment that overpays (flagged overpaid while credited) now gets its refund-due
-- message for the surplus besides the receipt: apply_razorpay_payment queues it.
-- Templates gain one variable: refund_amount (the money to be refunded).

create or replace function private.template_variables()
returns table (name text, max_length integer, example text)
language sql immutable
set search_path = ''
as $$
  values
    ('customer_name', 40, 'Meera Sharma'),
    ('policy_number', 30, 'MOT/2025/000123'),
    ('case_number', 16, 'RC-2026-000123'),
    ('product_line', 10, 'motor'),
    ('insurer', 40, 'Test General Insurance'),
    ('premium', 14, '₹28,138'),
    ('amount_due', 14, '₹28,138'),
    ('expiry_date', 11, '15 Jan 2027'),
    ('due_date', 11, '15 Jan 2027'),
    ('grace_end', 11, '14 Feb 2027'),
    ('ncb_percent', 3, '35'),
    ('ncb_deadline', 11, '15 Apr 2027'),
    ('agent_name', 40, 'Farah Khan'),
    ('agent_phone', 16, '+919812345678'),
    ('payment_link', 40, 'https://rzp.io/i/ExjpAUN3gVHrPJ'),
    ('document_link', 60, 'https://example.test/d/abc'),
    ('message', 1000, 'Your agent''s words'),
    ('amount_paid', 17, '₹28,138.50'),
    ('payment_reference', 30, 'pay_29QQoUBi66xm2f'),
    ('debit_date', 11, '15 Jan 2027'),
    ('mandate_reference', 30, 'sub_00A1B2C3D4E5F6'),
    ('refund_amount', 17, '₹4,000')
$$;

-- An amount as the customer paid it: rupees the Indian way, another currency by its code.
create function private.format_money(amount bigint, currency text) returns text
language sql immutable
set search_path = ''
as $$
  select case when coalesce(currency, 'INR') = 'INR' then private.format_inr(amount)
              else currency || ' ' || to_char(amount / 100.0, 'FM999,999,999,999,990.00') end
$$;

comment on function private.format_money(bigint, text) is
  'Formats an amount in the currency''s minor unit for messages: INR as format_inr (2813850 -> '
  '₹28,138.50), any other currency by its code (25000, USD -> USD 250.00).';

revoke execute on function private.format_money(bigint, text) from public;

insert into public.templates (code, channel, language, purpose, subject, body) values
  ('payment_refund_due_order_expired', 'email', 'en', 'transactional',
   'Your payment for {{policy_number}} came too late and will be refunded',
   'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) for '
   'policy {{policy_number}}, but it came after the payment window of its order had closed, so we '
   'could not apply it to case {{case_number}}. We will refund it to the account it came from. '
   '{{amount_due}} is still due on your renewal: please pay again with a new payment link or '
   'order (your agent can send you one).'),
  ('payment_refund_due_order_expired', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए आपका भुगतान देर से आया और लौटाया जाएगा',
   'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
   '{{payment_reference}}) प्राप्त हुए, पर यह भुगतान ऑर्डर की भुगतान अवधि समाप्त होने के बाद आया, '
   'इसलिए इसे केस {{case_number}} में नहीं जोड़ा जा सका। यह राशि उसी खाते में लौटा दी जाएगी जिससे '
   'आई थी। आपके नवीनीकरण पर अभी भी {{amount_due}} बकाया है: कृपया नए भुगतान लिंक या ऑर्डर से दोबारा '
   'भुगतान करें (आपके एजेंट आपको नया लिंक भेज सकते हैं)।'),
  ('payment_refund_due_case_closed', 'email', 'en', 'transactional',
   'Your payment for {{policy_number}} will be refunded',
   'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) for '
   'policy {{policy_number}}, but renewal case {{case_number}} was already closed when it arrived, '
   'so it could not be applied. We will refund it to the account it came from; you need do '
   'nothing. Your agent can tell you where your renewal stands.'),
  ('payment_refund_due_case_closed', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए आपका भुगतान लौटाया जाएगा',
   'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
   '{{payment_reference}}) प्राप्त हुए, पर उस समय नवीनीकरण केस {{case_number}} पहले ही बंद हो चुका '
   'था, इसलिए इसे लागू नहीं किया जा सका। यह राशि उसी खाते में लौटा दी जाएगी जिससे आई थी; आपको कुछ '
   'नहीं करना है। आपके नवीनीकरण की स्थिति आपके एजेंट बता सकते हैं।'),
  ('payment_refund_due_nothing_due', 'email', 'en', 'transactional',
   'Your payment for {{policy_number}} will be refunded',
   'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) for '
   'policy {{policy_number}}, but nothing was due on case {{case_number}} when it arrived. We will '
   'refund it to the account it came from; you need do nothing.'),
  ('payment_refund_due_nothing_due', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए आपका भुगतान लौटाया जाएगा',
   'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
   '{{payment_reference}}) प्राप्त हुए, पर उस समय केस {{case_number}} पर कुछ बकाया नहीं था। यह राशि '
   'उसी खाते में लौटा दी जाएगी जिससे आई थी; आपको कुछ नहीं करना है।'),
  ('payment_refund_due_overpaid', 'email', 'en', 'transactional',
   'You paid {{refund_amount}} more than was due for {{policy_number}}: it will be refunded',
   'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) for '
   'policy {{policy_number}}, which is {{refund_amount}} more than was due on case '
   '{{case_number}}. What was due is paid; we will refund the extra {{refund_amount}} to the '
   'account it came from. You need do nothing.'),
  ('payment_refund_due_overpaid', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए आपने बकाया से {{refund_amount}} अधिक भुगतान किया: यह लौटाया जाएगा',
   'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
   '{{payment_reference}}) प्राप्त हुए, जो केस {{case_number}} पर बकाया राशि से {{refund_amount}} '
   'अधिक है। बकाया राशि का भुगतान हो गया है; अतिरिक्त {{refund_amount}} उसी खाते में लौटा दिए '
   'जाएंगे जिससे भुगतान आया था। आपको कुछ नहीं करना है।'),
  ('payment_refund_due_currency_mismatch', 'email', 'en', 'transactional',
   'Your payment for {{policy_number}} was not in rupees and will be refunded',
   'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) for '
   'policy {{policy_number}}, but renewal premiums are paid in Indian rupees only, so it could not '
   'be applied to case {{case_number}}. We will refund it to the account it came from. '
   '{{amount_due}} is still due: please pay again in rupees with a new payment link or order '
   '(your agent can send you one).'),
  ('payment_refund_due_currency_mismatch', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए आपका भुगतान रुपये में नहीं था और लौटाया जाएगा',
   'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
   '{{payment_reference}}) प्राप्त हुए, पर नवीनीकरण प्रीमियम केवल भारतीय रुपये में लिया जाता है, '
   'इसलिए इसे केस {{case_number}} में नहीं जोड़ा जा सका। यह राशि उसी खाते में लौटा दी जाएगी जिससे '
   'आई थी। अभी भी {{amount_due}} बकाया है: कृपया नए भुगतान लिंक या ऑर्डर से रुपये में दोबारा भुगतान '
   'करें (आपके एजेंट आपको नया लिंक भेज सकते हैं)।');

-- The generic fallback, where nobody has edited the seeded text: it claims no reason.
update public.templates t
   set subject = 'Money you paid for {{policy_number}} will be refunded',
       body = 'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) '
              'for policy {{policy_number}}, but could not apply all of it to case {{case_number}}. '
              'We will refund {{refund_amount}} to the account it came from. Your agent can tell you '
              'why, and whether anything is still due.'
 where t.code = 'payment_refund_due' and t.channel = 'email' and t.language = 'en'
   and t.body = 'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) for '
                'policy {{policy_number}}, but nothing was due on case {{case_number}} when it arrived. We will '
                'refund it to the account it came from; you need do nothing.';
update public.templates t
   set subject = '{{policy_number}} के लिए आपके भुगतान की राशि लौटाई जाएगी',
       body = 'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
              '{{payment_reference}}) प्राप्त हुए, पर इसे पूरा केस {{case_number}} में नहीं जोड़ा जा सका। '
              '{{refund_amount}} उसी खाते में लौटा दिए जाएंगे जिससे भुगतान आया था। इसका कारण, और कुछ बकाया '
              'है या नहीं, आपके एजेंट बता सकते हैं।'
 where t.code = 'payment_refund_due' and t.channel = 'email' and t.language = 'hi'
   and t.body = 'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
                '{{payment_reference}}) प्राप्त हुए, पर उस समय केस {{case_number}} पर कुछ बकाया नहीं था। यह राशि '
                'उसी खाते में लौटा दी जाएगी जिससे आई थी; आपको कुछ नहीं करना है।';

create or replace function private.queue_payment_message(payment public.payments, template_code text, idempotency_key text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  customer public.customers;
  renewal public.renewal_cases;
  policy_number text;
  channel public.channel_type;
  chosen_code text := template_code;
  reason text;
  owed bigint;
  unapplied bigint;
  variables jsonb;
begin
  select c.* into renewal from public.renewal_cases c where c.id = payment.case_id;
  select cu.* into customer from public.customers cu where cu.id = renewal.customer_id;
  select p.policy_number into policy_number from public.policies p where p.id = renewal.policy_id;
  variables := jsonb_build_object(
    'customer_name', customer.full_name, 'policy_number', policy_number,
    'case_number', renewal.case_number,
    'amount_paid', private.format_money(payment.amount, payment.currency),
    'payment_reference', payment.razorpay_payment_id);

  -- A refund-due message in the words of its reason, with what is refunded and what is still due.
  if template_code = 'payment_refund_due' then
    owed := public.case_outstanding(renewal.id);
    unapplied := payment.amount - coalesce((select sum(a.amount) from public.payment_allocations a
                                             where a.payment_id = payment.id), 0);
    reason := case when payment.review_reason in ('order_expired', 'currency_mismatch') and owed = 0
                   then 'nothing_due' else payment.review_reason end;
    if exists (select 1 from public.templates t
                where t.code = 'payment_refund_due_' || reason and t.active
                  and (t.channel = customer.preferred_channel or t.channel = 'email')) then
      chosen_code := 'payment_refund_due_' || reason;
    end if;
    variables := variables || jsonb_build_object(
      'amount_due', private.format_inr(owed),
      'refund_amount', private.format_money(unapplied, payment.currency));
  end if;

  select t.channel into channel
    from public.templates t
   where t.code = chosen_code and t.active
     and (t.channel = customer.preferred_channel or t.channel = 'email')
   order by t.channel = customer.preferred_channel desc
   limit 1;
  if channel is null then
    raise warning 'no active % template: payment % gets no message', chosen_code, payment.razorpay_payment_id;
    return;
  end if;
  perform private.enqueue_messages(jsonb_build_object(
    'customer_id', customer.id, 'case_id', renewal.id, 'channel', channel,
    'template_code', chosen_code, 'priority', 0, 'idempotency_key', idempotency_key,
    'variables', variables));
exception when others then
  raise warning 'the % message of payment % was not queued: % (%)',
    template_code, payment.razorpay_payment_id, sqlerrm, sqlstate;
end;
$$;

comment on function private.queue_payment_message(public.payments, text, text) is
  'Queues payment_receipt or a refund-due message for a payment through the gate '
  '(enqueue_messages), once per idempotency key, priority 0, in the customer''s preferred channel '
  'when it has an active template, else email (the gate picks the customer''s language). '
  'template_code payment_refund_due means the template of the payment''s review_reason, '
  'payment_refund_due_<reason> (order_expired or currency_mismatch on a case owing nothing: '
  'nothing_due), or payment_refund_due itself when that one is missing; it adds {{amount_due}} '
  '(what the case still owes) and {{refund_amount}} (what was not applied: the surplus of an '
  'overpayment, else the whole payment). A failure to queue is a warning, never an error: a '
  'message must not undo a payment. Security definer: called inside the payment functions.';

create or replace function private.apply_razorpay_payment(payment jsonb, via text, payment_link jsonb default null)
returns table (payment_id uuid, outcome text, credited bigint, case_id uuid, case_stage public.case_stage)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  pay_ref text := payment ->> 'id';
  order_ref text := nullif(payment ->> 'order_id', '');
  reported public.payment_status;
  reported_amount bigint;
  attempted timestamptz;
  ord public.payment_orders;
  lnk public.payment_links;
  target_case uuid;
  paid public.payments;
  stage public.case_stage;
  forward boolean;
  flag text;
  preferred uuid[];
  allocated bigint := 0;
  result text;
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  if payment is null or jsonb_typeof(payment) <> 'object' or coalesce(pay_ref, '') !~ '^pay_[A-Za-z0-9_]+$'
     or via is null or via not in ('webhook', 'verify', 'reconcile')
     or coalesce(payment ->> 'status', '') not in ('created', 'authorized', 'captured', 'failed', 'refunded')
     or coalesce(payment ->> 'amount', '') !~ '^[0-9]{1,15}$' or (payment ->> 'amount')::bigint <= 0
     or (payment_link is not null and jsonb_typeof(payment_link) <> 'object') then
    raise exception 'apply_razorpay_payment needs a Razorpay payment entity (id pay_..., status, '
                    'amount in paise) and via webhook, verify or reconcile'
      using errcode = '22023';
  end if;
  reported := (payment ->> 'status')::public.payment_status;
  reported_amount := (payment ->> 'amount')::bigint;
  if coalesce(payment ->> 'created_at', '') ~ '^[0-9]{1,12}$' then
    attempted := to_timestamp((payment ->> 'created_at')::bigint);
  end if;

  -- Which of ours it pays: its order, else its link (by the link entity or the link's order),
  -- else a payment row already recorded (checkout verification).
  if order_ref is not null then
    select po.* into ord from public.payment_orders po where po.razorpay_order_id = order_ref;
  end if;
  if payment_link is not null then
    select pl.* into lnk from public.payment_links pl
     where pl.razorpay_payment_link_id = payment_link ->> 'id'
        or pl.reference_id = payment_link ->> 'reference_id'
     limit 1;
  end if;
  if ord.id is null and lnk.id is null and order_ref is not null then
    select pl.* into lnk from public.payment_links pl where pl.razorpay_order_id = order_ref limit 1;
  end if;
  target_case := coalesce(ord.case_id, lnk.case_id,
                          (select p.case_id from public.payments p where p.razorpay_payment_id = pay_ref));
  if target_case is null then
    return query select null::uuid, 'unmatched'::text, 0::bigint, null::uuid, null::public.case_stage;
    return;
  end if;

  -- 1. The payment row, then 2. its case.
  insert into public.payments as p (case_id, payment_order_id, payment_link_id, razorpay_order_id,
                                    razorpay_payment_id, amount, currency, status, attempted_at)
  values (target_case, ord.id, lnk.id, order_ref, pay_ref, reported_amount,
          coalesce(payment ->> 'currency', 'INR'), 'created', attempted)
  on conflict (razorpay_payment_id) do nothing;
  select p.* into paid from public.payments p where p.razorpay_payment_id = pay_ref for update;
  -- Razorpay says which order (or link) the payment paid: that overrides what a checkout
  -- verification recorded, as long as nothing is credited or flagged.
  if paid.credited_at is null and paid.review_reason is null
     and coalesce(ord.case_id, lnk.case_id) is not null
     and (paid.case_id, paid.payment_order_id, paid.payment_link_id)
         is distinct from (coalesce(ord.case_id, lnk.case_id), ord.id, lnk.id) then
    update public.payments p
       set case_id = coalesce(ord.case_id, lnk.case_id), payment_order_id = ord.id,
           payment_link_id = lnk.id, razorpay_order_id = coalesce(order_ref, p.razorpay_order_id)
     where p.id = paid.id
    returning p.* into paid;
  end if;
  stage := private.lock_case(paid.case_id);
  if ord.id is null and paid.payment_order_id is not null then
    select po.* into ord from public.payment_orders po where po.id = paid.payment_order_id;
  end if;
  if lnk.id is null and paid.payment_link_id is not null then
    select pl.* into lnk from public.payment_links pl where pl.id = paid.payment_link_id;
  end if;

  forward := private.payment_status_rank(reported) > private.payment_status_rank(paid.status);
  update public.payments p
     set status = case when forward then reported else p.status end,
         amount = case when forward and p.credited_at is null and p.amount_refunded = 0
                       then reported_amount else p.amount end,
         currency = case when forward and p.credited_at is null
                         then coalesce(payment ->> 'currency', p.currency) else p.currency end,
         method = coalesce(p.method, payment ->> 'method'),
         payment_order_id = coalesce(p.payment_order_id, ord.id),
         payment_link_id = coalesce(p.payment_link_id, lnk.id),
         razorpay_order_id = coalesce(p.razorpay_order_id, order_ref),
         attempted_at = coalesce(p.attempted_at, attempted),
         error_code = case when forward and reported = 'failed' then payment ->> 'error_code' else p.error_code end,
         failure_reason = case when forward and reported = 'failed'
                               then coalesce(payment ->> 'error_description', payment ->> 'error_reason')
                               else p.failure_reason end,
         captured_at = case when forward and reported in ('captured', 'refunded') and p.captured_at is null
                            then now() else p.captured_at end,
         reconcile_after = case when not forward then p.reconcile_after
                                when reported = 'authorized' then now() + reconcile end
   where p.id = paid.id
  returning p.* into paid;

  -- 3. Credit a captured payment once, or flag it.
  if paid.status = 'captured' and paid.credited_at is null and paid.review_reason is null then
    flag := case
      when paid.currency <> 'INR' then 'currency_mismatch'
      when private.case_stage_is_final(stage) then 'case_closed'
      when ord.id is not null and coalesce(paid.attempted_at, now()) > ord.expires_at then 'order_expired'
      when public.case_outstanding(paid.case_id) = 0 then 'nothing_due'
    end;
    if flag is not null then
      update public.payments p set review_reason = flag where p.id = paid.id returning p.* into paid;
      perform private.queue_payment_message(paid, 'payment_refund_due', 'refund_due:' || pay_ref);
      result := 'flagged';
    else
      preferred := coalesce(ord.installment_ids, array[lnk.outstanding_amount_id], '{}');
      with open_installments as (
        select o.id, o.amount - o.amount_paid as owed,
               row_number() over (order by o.id = any (preferred) desc, o.due_date,
                                           o.installment_number) as n
          from public.outstanding_amounts o
         where o.case_id = paid.case_id and o.status in ('pending', 'overdue')
           and o.amount_paid < o.amount
      ),
      running as (
        select i.id, i.owed, coalesce(sum(i.owed) over (order by i.n rows between unbounded preceding
                                                        and 1 preceding), 0) as before
          from open_installments i
      ),
      booked as (
        insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount)
        select paid.id, paid.case_id, r.id, least(r.owed, paid.amount - r.before)
          from running r
         where r.before < paid.amount
        returning outstanding_amount_id, amount
      )
      update public.outstanding_amounts o
         set amount_paid = o.amount_paid + b.amount,
             status = case when o.amount_paid + b.amount = o.amount then 'paid' else o.status end,
             paid_at = case when o.amount_paid + b.amount = o.amount then least(now(), paid.captured_at)
                            else o.paid_at end,
             reason = case when o.amount_paid + b.amount = o.amount
                           then coalesce(o.reason, 'Razorpay ' || pay_ref) else o.reason end
        from booked b
       where o.id = b.outstanding_amount_id;
      select coalesce(sum(a.amount), 0) into allocated
        from public.payment_allocations a where a.payment_id = paid.id;
      update public.payments p
         set credited_at = now(), credited_via = via,
             review_reason = case when paid.amount > allocated then 'overpaid' end
       where p.id = paid.id
      returning p.* into paid;
      perform private.queue_payment_message(paid, 'payment_receipt', 'receipt:' || pay_ref);
      -- A surplus is refunded like any other flagged money: the customer is told, with its amount.
      if paid.review_reason = 'overpaid' then
        perform private.queue_payment_message(paid, 'payment_refund_due', 'refund_due:' || pay_ref);
      end if;
      result := 'credited';
    end if;
  elsif paid.credited_at is not null then
    result := 'already_credited';
  elsif paid.review_reason is not null and paid.status in ('captured', 'refunded') then
    result := 'flagged';
  else
    result := 'recorded';
  end if;

  -- 4. The order or link it paid.
  if ord.id is not null then
    update public.payment_orders po
       set status = case
             when po.status <> 'failed'
                  and (select coalesce(sum(p.amount), 0) from public.payments p
                        where p.payment_order_id = po.id and p.credited_at is not null) >= po.amount
               then 'paid'
             when po.status in ('creating', 'created') then 'attempted'
             else po.status end
     where po.id = ord.id
    returning po.* into ord;
    if ord.status = 'paid' then
      update public.payment_orders po set reconcile_after = null
       where po.id = ord.id and po.reconcile_after is not null;
    end if;
  end if;
  if lnk.id is not null then
    update public.payment_links pl
       set razorpay_order_id = coalesce(pl.razorpay_order_id, order_ref),
           amount_paid = captured.total,
           status = case
             when pl.status in ('expired', 'cancelled', 'failed') then pl.status
             when captured.total >= pl.amount then 'paid'
             when captured.total > 0 then 'partially_paid'
             else pl.status end,
           reconcile_after = case when captured.total >= pl.amount then null else pl.reconcile_after end
      from (select coalesce(sum(p.amount), 0) as total from public.payments p
             where p.payment_link_id = lnk.id and p.status in ('captured', 'refunded')) as captured
     where pl.id = lnk.id;
  end if;

  return query
  select paid.id, result, allocated, paid.case_id, c.stage
    from public.renewal_cases c where c.id = paid.case_id;
end;
$$;

comment on function private.apply_razorpay_payment(jsonb, text, jsonb) is
  'Applies a Razorpay payment entity, whoever learnt it (via webhook, verify or reconcile; '
  'payment_link: the link entity when known). The only place money is credited. Locks the payment '
  'row, then the case. Status only moves forward. A captured payment not yet credited goes to its '
  'order''s (or link''s) installments first, then the case''s other open installments, oldest due '
  'first; then payment_receipt is queued (key receipt:<pay id>); a surplus stays unallocated '
  '(review_reason overpaid) and its refund-due message is queued too (key refund_due:<pay id>). '
  'Not credited but flagged, with its refund-due message queued (key refund_due:<pay id>, worded '
  'by reason: queue_payment_message): case closed (case_closed), authorised after its order '
  'expired (order_expired), nothing owed (nothing_due), not INR (currency_mismatch). Outcomes: '
  'credited, already_credited, recorded (not captured), flagged, unmatched (no order, link or '
  'payment of ours: nothing written). credited: paise allocated by this call. 22023 on a '
  'malformed entity.';
