// Refunds and payments of the same case at the same moment (issue 8 review, finding 1). A refund
// takes its money back from the installments when it is asked, under the locks a payment's credit
// takes (the payment row, then the case), so whichever commits first the other sees it: no
// deadlock, every installment's amount_paid equal to its allocations, never beyond its amount, the
// case renewed exactly when nothing is owed, and no paisa lost between installments, refunds and
// surpluses.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { adminSql, dbTest } from "./_helpers.ts";
import { actAs, namedConnection } from "./_concurrency.ts";
import { admin, caseOwing, pool } from "./_payments.ts";

/** A case owing 12,000.00 + 6,000.00 with a Razorpay order for both, 15,000.00 paid on it. */
async function partlyPaidCase(tag: string) {
  const sql = adminSql();
  const fixture = await caseOwing([1200000, 600000]);
  const orderId = `order_TRR${tag}`;
  await sql`
    insert into public.payment_orders (case_id, razorpay_order_id, amount, installment_ids, status, expires_at)
    select ${fixture.caseId}, ${orderId}, 1800000,
           array_agg(o.id order by o.installment_number), 'created', now() + interval '1 hour'
      from public.outstanding_amounts o where o.case_id = ${fixture.caseId}`;
  await credit(sql, `pay_TRR${tag}P1`, orderId, 1500000);
  const [paid] =
    await sql`select id from public.payments where razorpay_payment_id = ${`pay_TRR${tag}P1`}`;
  return { caseId: fixture.caseId as string, orderId, firstPaymentId: paid.id as string };
}

/** Razorpay reports a captured payment, as the webhook would (service_role). */
function credit(sql: postgres.Sql, paymentId: string, orderId: string, amount: number) {
  return sql.begin(async (tx) => {
    await tx`set local role service_role`;
    return await tx`select outcome from private.apply_razorpay_payment(${
      tx.json({ id: paymentId, order_id: orderId, amount, currency: "INR", status: "captured" })
    }::jsonb, 'webhook')`;
  });
}

/** Razorpay reports the refund failed (service_role). */
function refundFailed(sql: postgres.Sql, refundId: string, paymentId: string, amount: number) {
  return sql.begin(async (tx) => {
    await tx`set local role service_role`;
    return await tx`select outcome from private.apply_razorpay_refund(${
      tx.json({
        id: `rfnd_${refundId.replaceAll("-", "").slice(0, 14)}`,
        payment_id: paymentId,
        amount,
        status: "failed",
        notes: { refund_id: refundId },
      })
    }::jsonb)`;
  });
}

/** What the ledger says of a case: it must add up whatever order things happened in. */
async function ledger(caseId: string) {
  const [row] = await adminSql()`
    select c.stage::text as stage, public.case_outstanding(c.id)::int as outstanding,
           (select count(*)::int from public.outstanding_amounts o
             where o.case_id = c.id
               and o.amount_paid <> (select coalesce(sum(a.amount), 0) from public.payment_allocations a
                                      where a.outstanding_amount_id = o.id)) as unbalanced,
           (select coalesce(sum(o.amount_paid), 0)::int from public.outstanding_amounts o
             where o.case_id = c.id) as paid_in,
           (select coalesce(sum(p.amount - (select coalesce(sum(a.amount), 0) from public.payment_allocations a
                                             where a.payment_id = p.id)
                                 - (select coalesce(sum(r.amount), 0) from public.refunds r
                                     where r.payment_id = p.id and r.status <> 'failed')), 0)::int
              from public.payments p where p.case_id = c.id and p.status = 'captured') as kept_aside,
           (select coalesce(sum(r.amount), 0)::int from public.refunds r
             where r.case_id = c.id and r.status <> 'failed') as refunding,
           (select coalesce(sum(p.amount), 0)::int from public.payments p
             where p.case_id = c.id and p.status = 'captured') as received
      from public.renewal_cases c where c.id = ${caseId}`;
  return row as {
    stage: string;
    outstanding: number;
    unbalanced: number;
    paid_in: number;
    kept_aside: number;
    refunding: number;
    received: number;
  };
}

dbTest(
  "refund race: a refund and a payment of the same case at once serialize on the case and add up",
  async () => {
    const [{ id: adminId }] = await adminSql()`select id from auth.users where email = ${admin}`;
    const connections = Array.from({ length: 4 }, (_, i) => namedConnection(`refund_race_${i}`));
    try {
      const cases = await pool(
        4,
        12,
        async (i) => await partlyPaidCase(`${Date.now() % 100000}X${i}`),
      );
      // Round 1, all at once per case: the admin refunds 5,000.00 of the first payment while the
      // customer pays 1,000.00 of the 3,000.00 the case owed before it.
      const refunds = await pool(4, cases.length * 2, async (n) => {
        const c = cases[Math.floor(n / 2)];
        const sql = connections[n % connections.length];
        if (n % 2 === 0) {
          return await sql.begin(async (tx) => {
            await actAs(tx, adminId);
            const [made] =
              await tx`select refund_id from private.request_refund(${c.firstPaymentId}::uuid,
            500000, 'race', ${`race-${n}`})`;
            return made.refund_id as string;
          });
        }
        await credit(sql, `pay_TRR${c.orderId.slice(9)}P2`, c.orderId, 100000);
        return "";
      });
      for (const c of cases) {
        const state = await ledger(c.caseId);
        assert.deepEqual(
          {
            stage: state.stage === "renewed",
            outstanding: state.outstanding,
            unbalanced: state.unbalanced,
          },
          { stage: false, outstanding: 700000, unbalanced: 0 },
          "whichever came first, the case owes the refunded 5,000.00 besides the 2,000.00 left",
        );
        assert.equal(
          state.paid_in + state.kept_aside + state.refunding,
          state.received,
          "no paisa lost",
        );
      }
      // Round 2, all at once per case: Razorpay fails the refund while the customer pays the 7,000.00
      // owed. Either way the case renews and the extra 5,000.00 is kept aside for refund.
      await pool(4, cases.length * 2, async (n) => {
        const c = cases[Math.floor(n / 2)];
        const sql = connections[n % connections.length];
        if (n % 2 === 0) {
          const [row] = await refundFailed(
            sql,
            refunds[n],
            `pay_TRR${c.orderId.slice(9)}P1`,
            500000,
          );
          assert.equal(row.outcome, "applied");
        } else {
          await credit(sql, `pay_TRR${c.orderId.slice(9)}P3`, c.orderId, 700000);
        }
      });
      for (const c of cases) {
        const state = await ledger(c.caseId);
        assert.deepEqual(
          {
            stage: state.stage,
            outstanding: state.outstanding,
            unbalanced: state.unbalanced,
            paid_in: state.paid_in,
            refunding: state.refunding,
          },
          { stage: "renewed", outstanding: 0, unbalanced: 0, paid_in: 1800000, refunding: 0 },
          "the case renews once, its installments exactly paid",
        );
        assert.equal(
          state.kept_aside,
          500000,
          "the extra 5,000.00 is kept aside, not lost, not credited twice",
        );
        const flagged = await adminSql()`
        select razorpay_payment_id, review_reason from public.payments
         where case_id = ${c.caseId} and review_reason is not null`;
        assert.equal(flagged.length, 1, "one payment is flagged for the refund of the extra");
        assert.ok(["overpaid", "case_closed"].includes(flagged[0].review_reason));
      }
    } finally {
      await Promise.all(connections.map((sql) => sql.end()));
    }
  },
);
