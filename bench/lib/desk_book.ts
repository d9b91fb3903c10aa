// What the synthetic book lacks for the desk's pages: consents and payments. Added after the
// daily jobs have opened cases, deterministically (from the generator's ids and the cases'
// policies), as the superuser.
import postgres from "postgres";

/** Rows added, for the benchmark's log. */
export interface DeskRows {
  consents: number;
  payments: number;
}

/**
 * Gives every customer a service consent on WhatsApp and a transactional one on SMS, and one
 * customer in three a marketing consent on email (half of them withdrawn); gives every case's
 * first installment one payment attempt: created, failed or captured, a third each. Once per
 * book: a second call fails on the consents' and the orders' unique keys.
 *
 * Triggers are skipped (`session_replication_role = replica`): foreign keys hold by
 * construction, and the audit rows of a bulk load are not what the pages read. With them, the
 * consents alone take minutes on a 2-core machine.
 */
export async function addDeskRows(url: string): Promise<DeskRows> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      const consents = await tx`
        insert into public.consents (customer_id, channel, purpose, status, source)
        select cu.id, k.channel, k.purpose,
               case when k.purpose = 'marketing' and abs(hashtext(cu.id::text)) % 2 = 0
                    then 'withdrawn' else 'granted' end::public.consent_status,
               'import'
          from public.customers cu
         cross join (values ('whatsapp'::public.channel_type, 'service'::public.consent_purpose),
                            ('sms', 'transactional'),
                            ('email', 'marketing')) as k (channel, purpose)
         where cu.email like '%@big.py360.test'
           and (k.purpose <> 'marketing' or abs(hashtext(cu.id::text)) % 3 = 0)`;
      const payments = await tx`
        insert into public.payments (case_id, razorpay_order_id, razorpay_payment_id, amount,
                                     method, status, failure_reason, captured_at)
        select o.case_id, 'order_big_' || md5(c.policy_id::text),
               'pay_big_' || md5(c.policy_id::text),
               o.amount, case when s.status <> 'created' then 'upi' end, s.status,
               case when s.status = 'failed' then 'BAD_REQUEST_ERROR' end,
               case when s.status = 'captured' then o.created_at end
          from public.outstanding_amounts o
          join public.renewal_cases c on c.id = o.case_id
         cross join lateral (
           select (array['created', 'failed', 'captured'])
                    [1 + abs(hashtext(c.policy_id::text)) % 3]::public.payment_status as status
         ) s
         where o.installment_number = 1`;
      await tx`analyze public.consents, public.payments`;
      return { consents: consents.count, payments: payments.count };
    });
  } finally {
    await sql.end();
  }
}
