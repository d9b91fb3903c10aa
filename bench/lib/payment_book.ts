// The payments benchmark's book (bench/payments.ts): cases that each owe two installments, each
// with a Razorpay order for both and a service reminder queued, as the superuser, in bulk; the
// reference's SMS messages the vendor accepted; and the check, after the run, that every webhook
// did the whole job once. Needs the demo organisation (seed/00_org.sql: the agent who holds the
// cases).
import type postgres from "postgres";

/** The agent (seed/00_org.sql) who holds the bench's cases. */
const agentEmail = "farah.agent@py360.test";

/** Paise each case owes: its first installment, then its second a month later. */
export const installmentAmounts = [1_000_000, 500_000] as const;

/** One case to pay: its Razorpay order covers both installments (`amount` paise). */
export interface PayableCase {
  /** 1-based position in the book. */
  n: number;
  caseId: string;
  /** Razorpay's order id (`order_...`), as Razorpay would have answered the create call. */
  razorpayOrderId: string;
  /** Paise: everything the case owes. */
  amount: number;
  email: string;
  phone: string;
}

/** A message the vendor accepted (`sent`, Twilio's SID), for a signed status callback. */
export interface SentMessage {
  /** Our messages.id: the StatusCallback's `message_id`. */
  id: string;
  /** Twilio's MessageSid (`SM` + 32 hex). */
  sid: string;
  /** E.164. */
  recipient: string;
}

/**
 * Builds `size` payable cases in one transaction (triggers on, as any load through the backend
 * would run them): a customer with an email address (the receipt's channel) and a phone, a motor
 * policy of the seed's agent ending in 25 days, its renewal case (`new`), installments of
 * installmentAmounts due at the end date and a month later, a `created` Razorpay order for both
 * (expiring in an hour), and a service email reminder queued through the gate
 * (private.enqueue_messages, one statement). Then, for the reference, one transactional SMS per
 * case queued through the gate and marked `sent` by Twilio (as a dispatcher would record it).
 * Returns the cases and the sent messages, each in book order. Throws if the gate did not queue
 * every message.
 */
export async function preparePaymentBook(
  sql: postgres.Sql,
  size: number,
): Promise<{ cases: PayableCase[]; sent: SentMessage[] }> {
  const [first, second] = installmentAmounts;
  await sql.begin(async (tx) => {
    await tx`create schema bench`;
    await tx`
      create table bench.payers as
      select g as n, gen_random_uuid() as customer_id, gen_random_uuid() as policy_id,
             gen_random_uuid() as case_id, gen_random_uuid() as first_id,
             gen_random_uuid() as second_id, gen_random_uuid() as order_id,
             'order_Bench' || lpad(g::text, 9, '0') as razorpay_order_id
        from generate_series(1, ${size}::int) g`;
    await tx`create unique index on bench.payers (n)`;
    await tx`
      insert into public.customers (id, full_name, phone, email, language, preferred_channel)
      select customer_id, 'Bench Payer ' || n, '+9197' || lpad(n::text, 8, '0'),
             'payer' || n || '@bench.py360.test', 'en', 'email'
        from bench.payers`;
    await tx`
      insert into public.policies (id, policy_number, product_line, insurer, customer_id,
                                   agent_id, premium, sum_insured, start_date, end_date)
      select b.policy_id, 'BENCH/PAY/' || b.n, 'motor', 'Bench General', b.customer_id, a.id,
             ${first + second}, 60000000, t.d - 340, t.d + 25
        from bench.payers b,
             (select id from public.profiles where email = ${agentEmail}) a,
             (select private.business_date(now()) as d) t`;
    await tx`
      insert into public.renewal_cases (id, policy_id, customer_id, assignee_id, due_date,
                                        grace_end)
      select b.case_id, b.policy_id, b.customer_id, p.agent_id, p.end_date, p.end_date + 30
        from bench.payers b join public.policies p on p.id = b.policy_id`;
    await tx`
      insert into public.outstanding_amounts (id, case_id, installment_number, due_date, amount)
      select i.id, b.case_id, i.number, c.due_date + i.later, i.amount
        from bench.payers b
        join public.renewal_cases c on c.id = b.case_id
       cross join lateral (values (b.first_id, 1, 0, ${first}::bigint),
                                  (b.second_id, 2, 30, ${second}::bigint))
                      as i (id, number, later, amount)`;
    await tx`
      insert into public.payment_orders (id, case_id, razorpay_order_id, amount, installment_ids,
                                         status, expires_at, reconcile_after)
      select order_id, case_id, razorpay_order_id, ${first + second},
             array[first_id, second_id], 'created', now() + interval '1 hour',
             now() + interval '10 minutes'
        from bench.payers`;
    await tx`
      insert into public.templates (code, channel, language, purpose, subject, body)
      values ('bench_reminder', 'email', 'en', 'service', 'Renew {{policy_number}}',
              'Dear {{customer_name}}, your policy {{policy_number}} is due for renewal.')`;
    await tx`
      insert into public.templates (code, channel, language, purpose, body, dlt_entity_id,
                                    dlt_header, dlt_template_id, dlt_text)
      values ('bench_sms_receipt', 'sms', 'en', 'transactional',
              'Payment of Rs {{amount_due}} received for {{policy_number}} -PYRNWL',
              '1101234567890123456', 'PYRNWL', '1107161234567890125',
              'Payment of Rs {#var#} received for {#var#} -PYRNWL')`;
    const gate = async (template: string, channel: string, withCase: boolean) => {
      const [row] = await tx`
        select count(*) filter (where e.status = 'queued')::int as queued
          from private.enqueue_messages((
            select jsonb_agg(jsonb_build_object(
                     'customer_id', b.customer_id,
                     'case_id', case when ${withCase}::boolean then b.case_id end,
                     'channel', ${channel}::text,
                     'template_code', ${template}::text,
                     'variables', jsonb_build_object('customer_name', 'Bench Payer ' || b.n,
                                                     'policy_number', 'BENCH/PAY/' || b.n,
                                                     'amount_due', '15000'),
                     'idempotency_key', ${template}::text || ':' || b.n))
              from bench.payers b), now()) e`;
      if (row.queued !== size) {
        throw new Error(`the gate queued ${row.queued} of ${size} ${template} messages`);
      }
    };
    await gate("bench_reminder", "email", true);
    await gate("bench_sms_receipt", "sms", false);
    await tx`
      update public.messages m
         set status = 'sent', attempts = 1, provider = 'twilio',
             provider_message_id = 'SM' || replace(m.id::text, '-', ''),
             sending_at = now(), sent_at = now()
       where m.idempotency_key like 'bench_sms_receipt:%'`;
  });
  await sql`analyze`;
  const cases = await sql<PayableCase[]>`
    select b.n, b.case_id as "caseId", b.razorpay_order_id as "razorpayOrderId",
           o.amount::int as amount, cu.email::text as email, cu.phone
      from bench.payers b
      join public.payment_orders o on o.id = b.order_id
      join public.customers cu on cu.id = b.customer_id
     order by b.n`;
  const sent = await sql<SentMessage[]>`
    select m.id, m.provider_message_id as sid, m.recipient
      from bench.payers b
      join public.messages m on m.idempotency_key = 'bench_sms_receipt:' || b.n
     order by b.n`;
  return { cases, sent };
}

/** What the run expects to find: how many cases were paid, how many callbacks delivered. */
export interface Expected {
  /** Cases paid by one payment.captured each (the first `paid` of the book). */
  paid: number;
  /** Twilio `delivered` callbacks sent (the first `delivered` messages of the book). */
  delivered: number;
}

/**
 * Checks that each paid case went the whole path exactly once, and each callback was recorded:
 * one stored `applied` event (`credited`) per payment and no other; one payment per case,
 * captured, credited by the webhook, clean; exactly one allocation per (payment, installment),
 * summing to the payment's amount; both installments paid in full; the order paid; the case
 * renewed by exactly one stage change (audit log); its reminder cancelled; one receipt queued per
 * payment; the cases not paid untouched; one `delivered` event and message per callback.
 * Returns the list of failures (empty when all holds).
 */
export async function checkPaymentBook(sql: postgres.Sql, expected: Expected): Promise<string[]> {
  const [row] = await sql`
    with paid as (select * from bench.payers where n <= ${expected.paid}),
    pays as (
      select p.* from public.payments p join paid b on b.case_id = p.case_id
    ),
    allocations as (
      select a.payment_id, count(*) as n, count(distinct a.outstanding_amount_id) as distinct_n,
             sum(a.amount) as total
        from public.payment_allocations a join pays p on p.id = a.payment_id
       group by a.payment_id
    ),
    renewals as (
      select a.row_id, count(*) as n
        from public.audit_log a join paid b on b.case_id = a.row_id
       where a.table_name = 'renewal_cases' and a.action = 'update'
         and a.new_row ->> 'stage' = 'renewed'
         and a.old_row ->> 'stage' is distinct from 'renewed'
       group by a.row_id
    )
    select
      (select count(*)::int from public.payment_events) as events,
      (select count(*)::int from public.payment_events
        where status = 'applied' and note = 'credited') as events_credited,
      (select count(*)::int from pays) as payments,
      (select count(distinct case_id)::int from pays) as paid_cases,
      (select count(*)::int from pays
        where status = 'captured' and credited_at is not null and credited_via = 'webhook'
          and review_reason is null) as credited,
      (select count(*)::int from allocations a join pays p on p.id = a.payment_id
        where a.n = 2 and a.distinct_n = 2 and a.total = p.amount) as allocated_once,
      (select count(*)::int from public.payment_allocations) as allocation_rows,
      (select count(*)::int from public.outstanding_amounts o join paid b on b.case_id = o.case_id
        where o.status = 'paid' and o.amount_paid = o.amount) as installments_paid,
      (select count(*)::int from public.payment_orders o join paid b on b.order_id = o.id
        where o.status = 'paid') as orders_paid,
      (select count(*)::int from public.renewal_cases c join paid b on b.case_id = c.id
        where c.stage = 'renewed') as renewed,
      (select count(*)::int from renewals where n = 1) as renewed_once,
      (select count(*)::int from public.messages m join paid b on b.case_id = m.case_id
        where m.idempotency_key like 'bench_reminder:%' and m.status = 'cancelled')
        as reminders_cancelled,
      (select count(*)::int from public.messages
        where idempotency_key like 'bench_reminder:%' and status = 'queued') as reminders_queued,
      (select count(*)::int from public.messages m join pays p
          on m.idempotency_key = 'receipt:' || p.razorpay_payment_id
        where m.status = 'queued' and m.purpose = 'transactional') as receipts,
      (select count(*)::int from public.messages where idempotency_key like 'receipt:%')
        as receipt_rows,
      (select count(*)::int from public.renewal_cases c join bench.payers b on b.case_id = c.id
        where b.n > ${expected.paid} and c.stage <> 'new') as unpaid_moved,
      (select count(*)::int from public.messages m join bench.payers b
          on m.idempotency_key = 'bench_sms_receipt:' || b.n
        where b.n <= ${expected.delivered} and m.status = 'delivered') as delivered,
      (select count(*)::int from public.message_events
        where provider = 'twilio' and status = 'delivered') as delivered_events`;
  const paid = expected.paid;
  const want: Record<string, number> = {
    events: paid,
    events_credited: paid,
    payments: paid,
    paid_cases: paid,
    credited: paid,
    allocated_once: paid,
    allocation_rows: 2 * paid,
    installments_paid: 2 * paid,
    orders_paid: paid,
    renewed: paid,
    renewed_once: paid,
    reminders_cancelled: paid,
    reminders_queued: (await sql`select count(*)::int as n from bench.payers`)[0].n - paid,
    receipts: paid,
    receipt_rows: paid,
    unpaid_moved: 0,
    delivered: expected.delivered,
    delivered_events: expected.delivered,
  };
  return Object.entries(want)
    .filter(([name, value]) => row[name] !== value)
    .map(([name, value]) => `${name}: expected ${value}, found ${row[name]}`);
}
