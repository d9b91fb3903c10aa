// Creating a payment link at Razorpay from a row the database opened (private.open_payment_link
// for the desk, private.open_autopay_fallback_link for autopay's fallback): the request the
// journal holds, with the customer and a description (which the journal leaves out as personal
// data), Razorpay's own SMS and email off (we send the link through the outbox).
import { asService } from "../db.ts";
import type { RazorpayClient } from "../razorpay/client.ts";
import type { RazorpayPaymentLink } from "../razorpay/types.ts";
import { callJournaled } from "./razorpay_calls.ts";

/** A row of private.open_payment_link() / private.open_autopay_fallback_link(). */
export interface OpenedLink {
  payment_link_id: string;
  reference_id: string;
  amount: number;
  currency: string;
  accepts_partial: boolean;
  min_partial_amount: number | null;
  expire_by: Date;
  status: string;
  razorpay_payment_link_id: string | null;
  short_url: string | null;
  reused: boolean;
  customer_name: string;
  customer_email: string | null;
  customer_phone: string | null;
  case_number: string;
  policy_number: string;
  /** The journal row of the create call to make; null when there is nothing to create. */
  call_id: string | null;
}

/**
 * Creates `row`'s link at Razorpay under its journal row and records the answer (service_role);
 * throws the problem of razorpayProblem when Razorpay refuses or does not answer (the row stays
 * for reconciliation when the call may have happened). `caseId` goes into the link's notes.
 */
export async function createLinkAtRazorpay(
  client: RazorpayClient,
  row: OpenedLink & { call_id: string },
  caseId: string,
): Promise<RazorpayPaymentLink> {
  const request = {
    amount: row.amount,
    currency: row.currency,
    accept_partial: row.accepts_partial,
    ...(row.min_partial_amount === null
      ? {}
      : { first_min_partial_amount: row.min_partial_amount }),
    expire_by: Math.floor(row.expire_by.getTime() / 1000),
    reference_id: row.reference_id,
    description: `Renewal premium, policy ${row.policy_number}`,
    customer: {
      name: row.customer_name,
      ...(row.customer_email ? { email: row.customer_email } : {}),
      ...(row.customer_phone ? { contact: row.customer_phone } : {}),
    },
    notify: { sms: false, email: false },
    reminder_enable: false,
    notes: { payment_link_id: row.payment_link_id, case_id: caseId },
  };
  const link = await callJournaled(
    row.call_id,
    "create_payment_link",
    () => client.createPaymentLink(request),
  );
  await asService((tx) =>
    tx`select private.record_payment_link_created(${row.payment_link_id}, ${row.call_id}, ${
      tx.json(link as never)
    }::jsonb)`
  );
  return link;
}
