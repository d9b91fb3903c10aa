// Reconciliation: what a lost webhook or a crash left open is asked of Razorpay and put right
// through the same database functions the webhook and the API use (private.apply_razorpay_payment,
// record_order_created, record_payment_link_created, apply_razorpay_refund,
// record_subscription_created, and apply_razorpay_subscription_payment for the paid invoices of
// a subscription); and autopay's actions: pausing a debit without its pre-debit notice,
// cancelling the mandate of a closed case, a payment link for a debit that failed. The database
// picks the work (private.claim_payment_reconciliation: money first, each item leased so that
// two runners never take the same one) and says when an item is due again; this file only asks.
import { asService, type Tx } from "../db.ts";
import { log } from "../log.ts";
import { ProblemError } from "../errors.ts";
import { type RazorpayClient, RazorpayError } from "../razorpay/client.ts";
import type { RazorpaySubscription } from "../razorpay/types.ts";
import { createLinkAtRazorpay, type OpenedLink } from "./links.ts";
import { journaled } from "./razorpay_calls.ts";

/** One item of private.claim_payment_reconciliation(). */
interface Item {
  kind:
    | "payment_authorized"
    | "order_creating"
    | "refund_creating"
    | "refund_pending"
    | "link_creating"
    | "order_open"
    | "link_open"
    | "link_cancel"
    | "autopay_pause"
    | "autopay_cancel"
    | "autopay_creating"
    | "autopay_link_fallback"
    | "autopay_open";
  subject_id: string;
  razorpay_id: string | null;
  lookup_key: string;
}

/** What one run did: items claimed, put right, and failed (left leased, retried later). */
export interface ReconcileStats {
  claimed: number;
  done: number;
  failed: number;
}

const apply = (payment: unknown, link: unknown = null) =>
  asService((tx) =>
    tx`select * from private.apply_razorpay_payment(
         ${tx.json(payment as never)}::jsonb, 'reconcile', ${
      link === null ? null : tx.json(link as never)
    }::jsonb)`
  );

const applyRefund = (refund: unknown) =>
  asService((tx) =>
    tx`select * from private.apply_razorpay_refund(${tx.json(refund as never)}::jsonb)`
  );

const recordOrder = (id: string, order: unknown) =>
  asService((tx) =>
    tx`select private.record_order_created(${id}, null, ${tx.json(order as never)}::jsonb)`
  );

const recordMandate = (id: string, subscription: unknown) =>
  asService((tx) =>
    tx`select private.record_subscription_created(${id}, null, ${
      tx.json(subscription as never)
    }::jsonb)`
  );

const applyDebit = (payment: unknown, subscription: unknown) =>
  asService((tx) =>
    tx`select * from private.apply_razorpay_subscription_payment(
         ${tx.json(payment as never)}::jsonb, ${
      tx.json(subscription as never)
    }::jsonb, 'reconcile')`
  );

/**
 * Credits the debits of a subscription whose webhooks were lost: each `paid` invoice names its
 * payment, which is fetched and credited through private.apply_razorpay_subscription_payment via
 * reconcile (the one credit path: a payment credited before, or later by its webhook, is
 * `already_credited`). Payments we already credited or flagged are not fetched again.
 */
async function creditPaidInvoices(client: RazorpayClient, subscription: RazorpaySubscription) {
  const paid = (await client.fetchSubscriptionInvoices(subscription.id))
    .flatMap((invoice) =>
      invoice.status === "paid" && invoice.payment_id ? [invoice.payment_id] : []
    );
  if (paid.length === 0) return;
  const settled = new Set(
    (await asService((tx) =>
      tx<{ razorpay_payment_id: string }[]>`
        select razorpay_payment_id from public.payments
         where razorpay_payment_id = any(${paid}::text[])
           and (credited_at is not null or review_reason is not null)`
    )).map((row) => row.razorpay_payment_id),
  );
  for (const paymentId of paid.filter((id) => !settled.has(id))) {
    const payment = await client.fetchPayment(paymentId);
    // A debit is captured at once; anything else (the mandate's refunded authorisation) is not
    // premium money.
    if (payment.status === "captured") await applyDebit(payment, subscription);
  }
}

const recordLink = (id: string, link: unknown) =>
  asService((tx) =>
    tx`select private.record_payment_link_created(${id}, null, ${tx.json(link as never)}::jsonb)`
  );

/** Puts one item right; throws when Razorpay or the database fails (the lease retries it). */
async function reconcile(client: RazorpayClient, item: Item): Promise<void> {
  const { subject_id: id, razorpay_id: theirs, lookup_key: key } = item;
  switch (item.kind) {
    case "payment_authorized": {
      // Capture what was authorised; a payment captured meanwhile is fetched instead.
      const payment = await journaled(
        "capture_payment",
        id,
        { payment_id: theirs, amount: Number(key) },
        () => client.capturePayment(theirs!, Number(key)),
      ).catch(() => client.fetchPayment(theirs!));
      await apply(payment);
      return;
    }
    case "order_creating": {
      const [order] = await client.findOrdersByReceipt(key);
      // Not at Razorpay: the create never arrived. It is asked again after the next lease; once
      // a lookup past the order's expiry found nothing, the claim fails it (nobody can have paid
      // an order that does not exist).
      if (order) await recordOrder(id, order);
      return;
    }
    case "link_creating": {
      const [link] = await client.findPaymentLinksByReferenceId(key);
      if (link) await recordLink(id, link);
      return;
    }
    case "link_cancel": {
      // The case needs it no more (closed, or nothing owed): the customer must not pay it.
      const link = await journaled(
        "cancel_payment_link",
        id,
        { payment_link_id: theirs },
        () => client.cancelPaymentLink(theirs!),
      ).catch(async (error) => {
        // Paid or expired meanwhile: what Razorpay says it is now is recorded instead.
        if (error instanceof ProblemError && error.status === 502) {
          return await client.fetchPaymentLink(theirs!);
        }
        throw error;
      });
      // Payments made on it before the cancel (their webhooks possibly lost) are applied, as a
      // poll of the link would: credited if still owed, else flagged for a refund.
      for (const { payment_id } of link.payments ?? []) {
        await apply(await client.fetchPayment(payment_id), link);
      }
      await recordLink(id, link);
      return;
    }
    case "refund_creating": {
      // The same key and the same body as the first try: Razorpay answers the same refund.
      const [refund] = await asService((tx: Tx) =>
        tx<{ amount: number; reason: string }[]>`
          select amount, reason from public.refunds where id = ${id}`
      );
      let entity;
      try {
        entity = await client.createRefund(theirs!, {
          amount: refund.amount,
          notes: { refund_id: id, reason: refund.reason.slice(0, 250) },
        }, key);
      } catch (error) {
        // Refused for good: the refund fails and what it held is released.
        if (error instanceof RazorpayError && !error.retryable) {
          await asService((tx) =>
            tx`select private.fail_refund_create(${id}, ${
              tx.json({ code: error.code, description: error.description })
            }::jsonb)`
          );
          return;
        }
        throw error;
      }
      await applyRefund(entity);
      return;
    }
    case "refund_pending": {
      const entity = await client.fetchRefund(theirs!);
      await applyRefund(entity);
      return;
    }
    case "order_open": {
      for (const payment of await client.fetchOrderPayments(theirs!)) await apply(payment);
      const order = await client.fetchOrder(theirs!);
      await recordOrder(id, order);
      return;
    }
    case "link_open": {
      const link = await client.fetchPaymentLink(theirs!);
      for (const { payment_id } of link.payments ?? []) {
        await apply(await client.fetchPayment(payment_id), link);
      }
      await recordLink(id, link);
      return;
    }
    case "autopay_pause": {
      // No pre-debit notice was logged in time: no debit. (Razorpay cancels a subscription
      // paused before its first debit, which ends the mandate; the installment then falls back
      // to a payment link either way.)
      const subscription = await journaled(
        "pause_subscription",
        id,
        { subscription_id: theirs, pause_at: "now", reason: key },
        () => client.pauseSubscription(theirs!),
      );
      await recordMandate(id, subscription);
      return;
    }
    case "autopay_cancel": {
      const subscription = await journaled(
        "cancel_subscription",
        id,
        { subscription_id: theirs, cancel_at_cycle_end: 0, case_stage: key },
        () => client.cancelSubscription(theirs!, { cancel_at_cycle_end: 0 }),
      );
      await recordMandate(id, subscription);
      return;
    }
    case "autopay_creating": {
      // A create whose answer was lost: the plan's subscriptions carry our mandate id in notes.
      const found = await client.findSubscriptionsByPlan(theirs!, { count: 100 });
      const ours = found.find((subscription) => subscription.notes?.autopay_id === key);
      if (ours) await recordMandate(id, ours);
      return;
    }
    case "autopay_link_fallback": {
      // The debit did not happen: the installment gets a payment link and a reminder with it.
      const [row] = await asService((tx) =>
        tx<(OpenedLink & { case_id: string })[]>`
          select l.*, m.case_id from private.open_autopay_fallback_link(${id}) l
            join public.autopay_mandates m on m.id = ${id}`
      );
      if (!row) return;
      if (row.call_id) {
        await createLinkAtRazorpay(client, { ...row, call_id: row.call_id }, row.case_id);
      }
      await asService((tx) =>
        tx`select private.queue_payment_link_reminder(${row.payment_link_id})`
      );
      return;
    }
    case "autopay_open": {
      // A live subscription past its next debit: its debits first (payment, then case), then
      // the mandate, in the webhook's order, so that a failed debit recorded by the poll falls
      // back for the installment still due after the debits it missed were credited.
      const subscription = await client.fetchSubscription(theirs!);
      if (Number(subscription.paid_count) > 0) await creditPaidInvoices(client, subscription);
      await recordMandate(id, subscription);
      return;
    }
  }
}

/**
 * One reconciliation run: claims up to `maxItems` items due by `asOf` and asks Razorpay about
 * each in turn (one at a time: Razorpay's rate limiter asks for gentleness). An item that fails
 * is logged and stays leased until RAZORPAY_RECONCILE_AFTER, then is claimed again.
 */
export async function reconcilePayments(
  client: RazorpayClient,
  { maxItems = 50, asOf }: { maxItems?: number; asOf?: Date } = {},
): Promise<ReconcileStats> {
  const items = await asService((tx) =>
    tx<Item[]>`
      select * from private.claim_payment_reconciliation(
        ${maxItems}, coalesce(${asOf ?? null}::timestamptz, now()))`
  );
  const stats: ReconcileStats = { claimed: items.length, done: 0, failed: 0 };
  for (const item of items) {
    try {
      await reconcile(client, item);
      stats.done++;
    } catch (error) {
      stats.failed++;
      log("warn", "payment reconciliation failed; retried after its lease", {
        kind: item.kind,
        subject_id: item.subject_id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return stats;
}
