// A receipt reaches the customer (issue 12, "Must show"): a payment credited through the real
// path (the sandbox's Razorpay checkout, its signed webhooks through the gateway into
// /webhooks/razorpay) registers a pending receipt document and queues payment_receipt carrying
// it; the dispatcher renders the PDF, stores it once in the object store, and sends it: on
// WhatsApp as the template's document header (a presigned link that serves the PDF), by email
// and by SMS (through Twilio, the link as its DLT text registers it) with the /d/ link that
// redirects to it. Replayed webhooks and another drain change nothing (one row, one object, one
// checksum, one send); a store that fails sends nothing and the message is retried, then sent
// once.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { drain, outboundMessage } from "../../functions/_shared/dispatch.ts";
import { ensureDocument } from "../../functions/_shared/documents/ensure.ts";
import { buildProviders } from "../../functions/_shared/providers/mod.ts";
import { sha256 } from "../../functions/_shared/storage/s3.ts";
import goApp from "../../functions/go/app.ts";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { objectKeys, useObjectStore } from "./_object_store.ts";
import { shownText } from "./_pdf_text.ts";
import { adminSql, dbTest } from "./_helpers.ts";
import {
  caseOwing,
  control,
  eventually,
  inspect,
  madeEvents,
  openOrder,
  postWebhook,
  startPayments,
} from "./_payments.ts";

const store = await useObjectStore();
const harness = await startPayments();
const { sandbox, webhookUrl } = harness;
const providers = buildProviders(parseConfig({
  ...sandboxEnv(sandbox, "http://127.0.0.1:9/functions/v1"),
  FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
}));

interface Paid {
  payment: { id: string; amount: number; order_id: string };
}

/** A case owing ₹15,000 whose customer prefers `channel`; paid through the sandbox checkout,
 * its webhooks delivered. The payment id and the receipt message, once queued. */
async function paidReceipt(channel: "whatsapp" | "email" | "sms") {
  const fixture = await caseOwing([1500000]);
  const sql = adminSql();
  await sql`
    update public.customers
       set preferred_channel = ${channel}::public.channel_type,
           email = ${`receipt-${fixture.customerId.slice(0, 8)}@example.test`}
     where id = ${fixture.customerId}`;
  await sql`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${fixture.customerId}, ${channel}::public.channel_type, 'transactional', 'granted',
            'web_form')
    on conflict do nothing`;
  const order = await openOrder(fixture.caseId);
  const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
  await sandbox.callbacksSettled();
  const key = `receipt:${paid.payment.id}`;
  await eventually(
    "the receipt message is queued",
    async () =>
      (await sql`select 1 from public.messages where idempotency_key = ${key}`).length === 1,
  );
  const [message] = await sql`
    select id, channel::text, document_id, body from public.messages where idempotency_key = ${key}`;
  return { ...fixture, paymentId: paid.payment.id, message };
}

/** The payment's receipt documents (rows), and its messages by idempotency key. */
async function receiptRows(paymentId: string) {
  return await adminSql()`
    select d.id, d.kind::text, d.status, d.object_key, d.file_name, d.size_bytes::int,
           d.checksum_sha256, d.case_id
      from public.documents d join public.payments p on p.id = d.payment_id
     where p.razorpay_payment_id = ${paymentId}`;
}

async function messageState(id: string) {
  const [row] = await adminSql()`
    select status::text, attempts, provider, last_error_code, blocked_reason
      from public.messages where id = ${id}`;
  return row;
}

/** Drains until the message has left the queue (other queued messages go too). */
async function drainUntilSent(id: string, options: Partial<Parameters<typeof drain>[0]> = {}) {
  await eventually("the message is sent", async () => {
    await drain({ worker: "receipts", providers, budgetMs: 2_000, ...options });
    const state = await messageState(id);
    assert.ok(["queued", "sending", "sent"].includes(state.status), JSON.stringify(state));
    return state.status === "sent";
  }, 20_000);
}

/** A vendor's request as the sandbox lists it (a WhatsApp template's components typed). */
interface SentRequest {
  id: string;
  template?: string;
  body?: string;
  params: {
    template?: {
      components: {
        type: string;
        parameters: { type: string; document?: { link: string; filename: string } }[];
      }[];
    };
  };
}

/** What the vendor received for our message id. */
async function received(vendor: string, messageId: string) {
  return await inspect<SentRequest[]>(sandbox, `${vendor}/requests?ourId=${messageId}`);
}

Deno.test("receipts: the dispatcher puts a document header on templates that have one", () => {
  const claimed = {
    id: "m1",
    attempts: 1,
    channel: "whatsapp" as const,
    purpose: "transactional" as const,
    provider: "whatsapp_cloud" as const,
    recipient: "+919900000000",
    subject: null,
    body: "Dear A",
    whatsapp_name: "payment_receipt",
    whatsapp_language: "en",
    whatsapp_parameters: ["A", "Rs 1"],
    dlt_entity_id: null,
    dlt_header: null,
    dlt_template_id: null,
    document_id: "d1",
    whatsapp_header: "document",
  };
  const attachment = { link: "https://store.test/r.pdf?X-Amz-Expires=3600", filename: "r.pdf" };
  assert.deepEqual(outboundMessage(claimed, attachment).whatsapp?.template?.components, [
    { type: "header", parameters: [{ type: "document", document: attachment }] },
    { type: "body", parameters: [{ type: "text", text: "A" }, { type: "text", text: "Rs 1" }] },
  ]);
  // A template without a document header gets none; email ignores the attachment.
  assert.equal(
    outboundMessage({ ...claimed, whatsapp_header: null }, attachment).whatsapp?.template
      ?.components?.length,
    1,
  );
  const email = outboundMessage({ ...claimed, channel: "email", whatsapp_name: null }, attachment);
  assert.equal(email.whatsapp, undefined);
  assert.equal(JSON.stringify(email).includes("r.pdf"), false);
});

dbTest(
  "receipts: a payment credited by webhook reaches WhatsApp as the receipt PDF, stored once",
  async () => {
    const paid = await paidReceipt("whatsapp");
    assert.equal(paid.message.channel, "whatsapp");
    assert.ok(paid.message.document_id, "the message carries the receipt");
    const [pending] = await receiptRows(paid.paymentId);
    assert.equal(pending.id, paid.message.document_id);
    assert.equal(pending.kind, "receipt");
    assert.equal(pending.status, "pending");
    assert.equal(pending.file_name, `receipt-${paid.paymentId}.pdf`);

    await drainUntilSent(paid.message.id);
    const rows = await receiptRows(paid.paymentId);
    assert.equal(rows.length, 1, "one receipt row");
    const [receipt] = rows;
    assert.equal(receipt.status, "stored");
    assert.match(receipt.checksum_sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      (await objectKeys(store)).filter((key) => key.startsWith(`cases/${paid.caseId}/`)),
      [receipt.object_key],
      "one object, at the row's key",
    );

    // WhatsApp got the approved template with the document header: a link serving the PDF.
    const sends = await received("whatsapp_cloud", paid.message.id);
    assert.equal(sends.length, 1, "sent once");
    assert.equal(sends[0].template, "payment_receipt");
    const [header, body] = sends[0].params.template!.components;
    assert.equal(header.type, "header");
    assert.equal(header.parameters[0].type, "document");
    const document = header.parameters[0].document!;
    assert.equal(document.filename, receipt.file_name);
    assert.equal(body.type, "body");
    const link = new URL(document.link);
    assert.equal(link.searchParams.get("X-Amz-Expires"), "3600", "valid one hour");
    const pdf = await fetch(link);
    assert.equal(pdf.status, 200);
    const bytes = new Uint8Array(await pdf.arrayBuffer());
    assert.equal(new TextDecoder().decode(bytes.slice(0, 5)), "%PDF-");
    assert.equal((await sha256(bytes)).hex, receipt.checksum_sha256);
    assert.equal(bytes.length, receipt.size_bytes);
    // The receipt of this payment: its amount in rupees, its reference, the customer and case.
    const [who] = await adminSql()`
    select cu.full_name, c.case_number, pol.policy_number
      from public.renewal_cases c join public.customers cu on cu.id = c.customer_id
      join public.policies pol on pol.id = c.policy_id where c.id = ${paid.caseId}`;
    const text = await shownText(bytes);
    for (
      const expected of [
        "Payment receipt",
        "Rs. 15,000.00",
        paid.paymentId,
        who.full_name,
        who.case_number,
        who.policy_number,
        receipt.id,
      ]
    ) {
      assert.ok(text.includes(expected), `${expected} in ${text}`);
    }

    // Every webhook of the payment delivered again, and another drain: nothing new.
    const events = await madeEvents(sandbox, paid.paymentId);
    assert.ok(events.length >= 2, "authorized, captured, order.paid");
    for (const event of events) {
      const replay = await postWebhook(webhookUrl, event.body, {
        secret: sandbox.credentials.razorpayWebhookSecret,
        eventId: event.id,
      });
      assert.equal(replay.status, 200);
      await replay.body?.cancel();
    }
    await drain({ worker: "receipts-again", providers, budgetMs: 1_000 });
    assert.deepEqual(await receiptRows(paid.paymentId), rows, "the same row, unchanged");
    const [count] = await adminSql()`
    select count(*)::int as n from public.messages where idempotency_key = ${`receipt:${paid.paymentId}`}`;
    assert.equal(count.n, 1, "one receipt message");
    assert.equal((await received("whatsapp_cloud", paid.message.id)).length, 1, "still sent once");
    const again = await ensureDocument(receipt.id);
    assert.equal(again.rendered, false);
    assert.equal(again.checksumSha256, receipt.checksum_sha256);
    assert.deepEqual(
      (await objectKeys(store)).filter((key) => key.startsWith(`cases/${paid.caseId}/`)),
      [receipt.object_key],
    );
  },
);

// The SMS carries the link as its DLT template registers it: the fixed part written out, the
// 22-character token the one variable (DLT takes 30 characters a variable; the whole link is
// blocked by the gate as dlt_variable_too_long). It goes through the sandbox's Twilio.
for (const channel of ["email", "sms"] as const) {
  dbTest(
    `receipts: by ${channel} the receipt is a /d/ link that redirects to the PDF`,
    async () => {
      const paid = await paidReceipt(channel);
      assert.equal(paid.message.channel, channel);
      assert.ok(paid.message.document_id);
      const token = String(paid.message.body).match(/\/d\/([0-9A-Za-z]{22})\b/)?.[1];
      assert.ok(token, `a /d/ link in ${paid.message.body}`);

      if (channel === "sms") {
        assert.ok(
          String(paid.message.body).includes(`http://127.0.0.1:54321/functions/v1/go/d/${token} `),
          `the registered link's fixed part, then the token, in ${paid.message.body}`,
        );
      }

      await drainUntilSent(paid.message.id);
      const { provider } = await messageState(paid.message.id);
      if (channel === "sms") assert.equal(provider, "twilio");
      const sends = await received(provider, paid.message.id);
      assert.equal(sends.length, 1, "sent once");
      assert.ok(
        JSON.stringify(sends[0].params).includes(`/d/${token}`),
        "the link reached the vendor",
      );

      const [receipt] = await receiptRows(paid.paymentId);
      assert.equal(receipt.status, "stored", "stored before the link was sent");
      const redirect = await goApp.request(`/go/d/${token}`);
      assert.equal(redirect.status, 302);
      const pdf = await fetch(redirect.headers.get("location")!);
      assert.equal(pdf.status, 200);
      assert.equal(pdf.headers.get("content-type"), "application/pdf");
      const bytes = new Uint8Array(await pdf.arrayBuffer());
      assert.equal(new TextDecoder().decode(bytes.slice(0, 5)), "%PDF-");
      assert.equal((await sha256(bytes)).hex, receipt.checksum_sha256);
    },
  );
}

dbTest(
  "receipts: a store that fails sends nothing; the message is retried and sent once",
  async () => {
    const paid = await paidReceipt("whatsapp");
    let asked = 0;
    await drain({
      worker: "receipts-down",
      providers,
      budgetMs: 1_000,
      attach: () => {
        asked++;
        return Promise.reject(new Error("object store down"));
      },
    });
    assert.ok(asked >= 1, "the document was asked for");
    const failed = await messageState(paid.message.id);
    assert.equal(failed.status, "queued", "back in the queue, not lost");
    assert.equal(failed.last_error_code, "document_unavailable");
    // One attempt per time the store was asked: the drain may come round again within its budget
    // once the first retry's short backoff has passed (a loaded machine's drain is slower).
    assert.equal(failed.attempts, asked);
    assert.equal((await received("whatsapp_cloud", paid.message.id)).length, 0, "nothing sent");
    assert.equal((await receiptRows(paid.paymentId))[0].status, "pending");
    const [breaker] = await adminSql()`
    select consecutive_failures from public.provider_state where provider = 'whatsapp_cloud'`;
    assert.equal(breaker.consecutive_failures, 0, "the vendor's breaker does not count it");

    // Due again now (not after the backoff), with the store back: sent once.
    await adminSql()`update public.messages set next_attempt_at = now() where id = ${paid.message.id}`;
    await drainUntilSent(paid.message.id);
    assert.equal((await received("whatsapp_cloud", paid.message.id)).length, 1);
    assert.equal((await receiptRows(paid.paymentId))[0].status, "stored");
  },
);

dbTest("receipts: close the harness and the object store", async () => {
  await harness.close();
  await store.close();
});
