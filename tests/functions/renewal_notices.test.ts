// A renewal notice reaches the customer by default (issue 12: "renewal notices generated as PDF
// when a quote is ready, stored, and sent"): a case moved to quoted through the API (PATCH
// /api/cases/{id}, as its agent) queues its own renewal_notice message carrying the notice; the
// dispatcher renders the PDF (the case's premium, case and policy numbers), stores it once in the
// object store and sends it through the sandbox: on WhatsApp as the approved template's document
// header (a presigned link serving the PDF), by email with the /d/ link that redirects to it. A
// re-quote and another drain change nothing (one message, one row, one object, one send).
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { closeDb } from "../../functions/_shared/db.ts";
import { drain } from "../../functions/_shared/dispatch.ts";
import { buildProviders } from "../../functions/_shared/providers/mod.ts";
import { sha256 } from "../../functions/_shared/storage/s3.ts";
import goApp from "../../functions/go/app.ts";
import { startSandbox } from "../../sandbox/mod.ts";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { objectKeys, useObjectStore } from "./_object_store.ts";
import { shownText } from "./_pdf_text.ts";
import { adminSql, api, createCase, dbTest, expectJson, tokenFor } from "./_helpers.ts";
import { agent, eventually, inspect } from "./_payments.ts";

const store = await useObjectStore();
const sandbox = await startSandbox();
const providers = buildProviders(parseConfig({
  ...sandboxEnv(sandbox, "http://127.0.0.1:9/functions/v1"),
  FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
}));

/** The premium of the test cases, in paise: ₹28,138.50, printed "Rs. 28,138.50" in the PDF. */
const premiumPaise = 2813850;

/** The case moved to `stage` through the API by its agent (200). */
async function moveTo(caseId: string, stage: string) {
  const token = await tokenFor(agent);
  await expectJson(
    await api(`/cases/${caseId}`, { token, method: "PATCH", body: { stage } }),
    200,
  );
}

/** A fresh case of `agent` whose customer prefers `channel` (opted in), premium premiumPaise,
 * moved to quoted through the API; its renewal notice message once queued. */
async function quotedCase(channel: "whatsapp" | "email") {
  const fixture = await createCase(agent);
  const sql = adminSql();
  await sql`
    update public.customers
       set preferred_channel = ${channel}::public.channel_type,
           email = ${`notice-${fixture.customerId.slice(0, 8)}@example.test`}
     where id = ${fixture.customerId}`;
  await sql`update public.policies set premium = ${premiumPaise} where id = ${fixture.policyId}`;
  await sql`update public.outstanding_amounts set amount = ${premiumPaise}
             where case_id = ${fixture.caseId}`;
  await sql`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${fixture.customerId}, ${channel}::public.channel_type, 'service', 'granted', 'web_form')
    on conflict do nothing`;
  assert.equal((await noticeMessages(fixture.caseId)).length, 0, "nothing before the quote");
  await moveTo(fixture.caseId, "quoted");
  const messages = await noticeMessages(fixture.caseId);
  assert.equal(messages.length, 1, "one renewal notice message, queued with the quote");
  return { ...fixture, message: messages[0] };
}

/** The case's renewal_notice messages. */
async function noticeMessages(caseId: string) {
  return await adminSql()`
    select m.id, m.channel::text, m.status::text, m.document_id, m.body, m.idempotency_key
      from public.messages m join public.templates t on t.id = m.template_id
     where m.case_id = ${caseId} and t.code = 'renewal_notice'`;
}

/** The case's renewal notice documents (rows). */
async function noticeRows(caseId: string) {
  return await adminSql()`
    select d.id, d.status, d.object_key, d.file_name, d.size_bytes::int, d.checksum_sha256
      from public.documents d where d.case_id = ${caseId} and d.kind = 'renewal_notice'`;
}

async function messageState(id: string) {
  const [row] = await adminSql()`
    select status::text, attempts, provider, last_error_code, blocked_reason
      from public.messages where id = ${id}`;
  return row;
}

/** Drains until the message has left the queue (other queued messages go too). */
async function drainUntilSent(id: string) {
  await eventually("the message is sent", async () => {
    await drain({ worker: "renewal-notices", providers, budgetMs: 2_000 });
    const state = await messageState(id);
    assert.ok(["queued", "sending", "sent"].includes(state.status), JSON.stringify(state));
    return state.status === "sent";
  }, 20_000);
}

/** A vendor's request as the sandbox lists it (a WhatsApp template's components typed). */
interface SentRequest {
  template?: string;
  params: {
    template?: {
      components: {
        type: string;
        parameters: {
          type: string;
          text?: string;
          document?: { link: string; filename: string };
        }[];
      }[];
    };
  };
}

async function received(vendor: string, messageId: string) {
  return await inspect<SentRequest[]>(sandbox, `${vendor}/requests?ourId=${messageId}`);
}

/** The notice's PDF: stored once at its row's key, its bytes those the row's checksum names, and
 * printing the case's premium, case and policy numbers and the customer. */
async function checkPdf(caseId: string, bytes: Uint8Array) {
  const rows = await noticeRows(caseId);
  assert.equal(rows.length, 1, "one renewal notice row");
  const [notice] = rows;
  assert.equal(notice.status, "stored");
  assert.deepEqual(
    (await objectKeys(store)).filter((key) => key.startsWith(`cases/${caseId}/`)),
    [notice.object_key],
    "one object, at the row's key",
  );
  assert.equal(new TextDecoder().decode(bytes.slice(0, 5)), "%PDF-");
  assert.equal((await sha256(bytes)).hex, notice.checksum_sha256);
  assert.equal(bytes.length, notice.size_bytes);
  const [who] = await adminSql()`
    select cu.full_name, c.case_number, pol.policy_number
      from public.renewal_cases c join public.customers cu on cu.id = c.customer_id
      join public.policies pol on pol.id = c.policy_id where c.id = ${caseId}`;
  const text = await shownText(bytes);
  for (
    const expected of [
      "Renewal notice",
      "Rs. 28,138.50",
      who.full_name,
      who.case_number,
      who.policy_number,
    ]
  ) {
    assert.ok(text.includes(expected), `${expected} in ${text}`);
  }
  return notice;
}

dbTest(
  "renewal notices: a case quoted through the API gets its notice PDF on WhatsApp, stored once",
  async () => {
    const quoted = await quotedCase("whatsapp");
    assert.equal(quoted.message.channel, "whatsapp");
    assert.equal(quoted.message.status, "queued");
    const [pending] = await noticeRows(quoted.caseId);
    assert.equal(quoted.message.document_id, pending.id, "the message carries the notice");
    assert.equal(quoted.message.idempotency_key, `renewal_notice:${pending.id}`);
    assert.equal(pending.status, "pending");

    await drainUntilSent(quoted.message.id);
    const sends = await received("whatsapp_cloud", quoted.message.id);
    assert.equal(sends.length, 1, "sent once");
    assert.equal(sends[0].template, "renewal_notice");
    const [header, body] = sends[0].params.template!.components;
    assert.equal(header.type, "header");
    assert.equal(header.parameters[0].type, "document");
    const document = header.parameters[0].document!;
    assert.deepEqual(
      body.parameters.map((p) => p.text)[2],
      "₹28,138.50",
      "the premium in the template's text",
    );
    const link = new URL(document.link);
    assert.equal(link.searchParams.get("X-Amz-Expires"), "3600", "valid one hour");
    const pdf = await fetch(link);
    assert.equal(pdf.status, 200);
    const notice = await checkPdf(quoted.caseId, new Uint8Array(await pdf.arrayBuffer()));
    assert.equal(document.filename, notice.file_name);

    // Quoted again (after payment_pending, the same day) and another drain: nothing new.
    await moveTo(quoted.caseId, "payment_pending");
    await moveTo(quoted.caseId, "quoted");
    await drain({ worker: "renewal-notices-again", providers, budgetMs: 1_000 });
    assert.deepEqual(
      (await noticeMessages(quoted.caseId)).map((m) => m.id),
      [quoted.message.id],
      "one notice message",
    );
    assert.deepEqual([...await noticeRows(quoted.caseId)], [notice], "the same row, unchanged");
    assert.equal(
      (await received("whatsapp_cloud", quoted.message.id)).length,
      1,
      "still sent once",
    );
    assert.deepEqual(
      (await objectKeys(store)).filter((key) => key.startsWith(`cases/${quoted.caseId}/`)),
      [notice.object_key],
    );
  },
);

dbTest(
  "renewal notices: by email the notice is a /d/ link that redirects to the PDF",
  async () => {
    const quoted = await quotedCase("email");
    assert.equal(quoted.message.channel, "email");
    assert.ok(quoted.message.document_id);
    const token = String(quoted.message.body).match(/\/d\/([0-9A-Za-z]{22})$/)?.[1];
    assert.ok(token, `a /d/ link at the end of ${quoted.message.body}`);
    assert.ok(String(quoted.message.body).includes("₹28,138.50"), "the premium in the text");

    await drainUntilSent(quoted.message.id);
    const { provider } = await messageState(quoted.message.id);
    const sends = await received(provider, quoted.message.id);
    assert.equal(sends.length, 1, "sent once");
    assert.ok(
      JSON.stringify(sends[0].params).includes(`/d/${token}`),
      "the link reached the vendor",
    );

    const redirect = await goApp.request(`/go/d/${token}`);
    assert.equal(redirect.status, 302);
    const pdf = await fetch(redirect.headers.get("location")!);
    assert.equal(pdf.status, 200);
    assert.equal(pdf.headers.get("content-type"), "application/pdf");
    await checkPdf(quoted.caseId, new Uint8Array(await pdf.arrayBuffer()));
  },
);

dbTest("renewal notices: close the sandbox and the object store", async () => {
  await sandbox.close();
  await closeDb();
  await store.close();
});
