// POST /api/customers/{id}/erasure, the must-show of issue 13: a customer with data everywhere,
// made through the real paths (messages sent through the gate and the providers to the vendor
// sandbox, whose signed delivery callbacks and an inbound STOP reach the webhooks; an order paid
// at the sandbox's Razorpay with its signed webhook; an AI draft against the sandbox's OpenAI; a
// document uploaded through the API to a local S3 store; a tracked link clicked through `go`) is
// erased by an admin; afterwards no row of any table or view in public, analytics and storage
// (every column cast to text) holds their name, phone (with and without +91 / +) or email, while
// the premiums, installments, payments and allocations are exactly as before. Refusals (non-admin
// 403, invisible or unknown 404, payment in flight and already erased 409, bad bodies 422) change
// nothing.
import assert from "node:assert/strict";
import app from "../../functions/api/app.ts";
import goApp from "../../functions/go/app.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import { objectExists, useObjectStore } from "./_object_store.ts";
import { control as payControl, eventually, startPayments } from "./_payments.ts";
import { deskCustomer, startAiDesk } from "./_ai_desk.ts";
import { callbacks, control, ensureTemplates, send, startHarness } from "./_webhooks.ts";

// Every harness sets its variables before the functions first read their configuration.
const store = await useObjectStore();
const payments = await startPayments();
const desk = await startAiDesk();
const hooks = await startHarness();

const agent = "farah.agent@py360.test"; // holds the desk customer's case
const otherAgent = "gopal.agent@py360.test"; // does not see it
const admin = "admin@py360.test";

const person = await deskCustomer({ agent, preferredChannel: "email" });
const phone = person.phone!;
const email = person.email!;
const national = phone.slice(3);
/** What no row may hold after the erasure, lower case. */
const needles = [
  person.fullName,
  person.firstName,
  phone,
  phone.slice(1),
  national,
  email,
  "Kohima",
]
  .map((needle) => needle.toLowerCase());

const erase = async (id: string, body: unknown, who = admin) =>
  await api(`/customers/${id}/erasure`, { token: await tokenFor(who), method: "POST", body });

/** Every table and view in public, analytics and storage with rows naming `words`. */
async function rowsNaming(words: string[]): Promise<Record<string, number>> {
  const sql = adminSql();
  const relations = await sql<{ name: string }[]>`
    select format('%I.%I', n.nspname, c.relname) as name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'analytics', 'storage') and c.relkind in ('r', 'v', 'm', 'p')
     order by 1`;
  const found: Record<string, number> = {};
  for (const { name } of relations) {
    const [row] = await sql.unsafe(
      `select count(*)::int as n from ${name} t
        where exists (select 1 from unnest($1::text[]) w where strpos(lower(t::text), w) > 0)`,
      [words],
    );
    if (row.n > 0) found[name] = row.n;
  }
  return found;
}

/** The insurance record: policies, installments, payments and allocations of the person. */
async function insuranceRecord() {
  const [row] = await adminSql()`
    select (select sum(p.premium)::bigint from public.policies p
             where p.customer_id = ${person.customerId}) as premium_total,
           (select jsonb_agg(to_jsonb(p) order by p.id) from public.policies p
             where p.customer_id = ${person.customerId}) as policies,
           (select jsonb_agg(to_jsonb(o) - 'updated_at' order by o.id)
              from public.outstanding_amounts o where o.case_id = ${person.caseId}) as installments,
           (select jsonb_agg(to_jsonb(p) - 'updated_at' order by p.id) from public.payments p
             where p.case_id = ${person.caseId}) as payments,
           (select jsonb_agg(to_jsonb(a) order by a.id) from public.payment_allocations a
             where a.case_id = ${person.caseId}) as allocations`;
  return row;
}

/** What a refusal must leave as it was. */
async function personState() {
  const [row] = await adminSql()`
    select c.full_name, c.phone, c.email::text, c.erased_at,
           (select count(*)::int from public.data_requests d where d.customer_id = c.id) as requests,
           (select count(*)::int from public.messages m
             where m.customer_id = c.id and m.body = '[erased]') as erased_messages
      from public.customers c where c.id = ${person.customerId}`;
  return row;
}

let paymentId = "";
let documentKey = "";

dbTest("erasure: a customer with data everywhere, made through the real paths", async () => {
  const sql = adminSql();
  await ensureTemplates();
  await callbacks(hooks.sandbox, "twilio");
  await callbacks(hooks.sandbox, "aws_ses");
  await callbacks(hooks.sandbox, "whatsapp_cloud");
  await sql`update public.customers set city = 'Kohima' where id = ${person.customerId}`;
  // Consents with evidence naming the person (the WhatsApp opt-in the gate needs, and SMS
  // marketing the STOP will withdraw).
  for (const [channel, purpose] of [["whatsapp", "service"], ["sms", "marketing"]]) {
    await sql`
      insert into public.consents (customer_id, channel, purpose, status, source, evidence)
      values (${person.customerId}, ${channel}, ${purpose}, 'granted', 'agent_call',
              ${sql.json({ note: `${person.fullName} agreed on a call to ${phone}` })})
      on conflict (customer_id, channel, purpose) do update
         set status = 'granted', evidence = excluded.evidence`;
  }

  // Messages through the gate, sent to the sandbox, their delivery callbacks through the webhooks.
  const ids: string[] = [];
  for (const channel of ["sms", "email", "whatsapp"]) {
    const [row] = await sql<{ message_id: string; status: string; blocked_reason: string }[]>`
      select * from private.enqueue_messages(${
      sql.json({
        customer_id: person.customerId,
        case_id: person.caseId,
        channel,
        template_code: "webhooks_test",
        variables: {
          // DLT allows 30 characters a variable: the SMS carries the first name.
          customer_name: channel === "sms" ? person.firstName : person.fullName,
          policy_number: person.policyNumber,
          expiry_date: "1 Jan",
        },
        idempotency_key: `erasure-${person.caseId}-${channel}`,
      })
    }::jsonb)`;
    assert.equal(row.status, "queued", row.blocked_reason ?? "");
    ids.push(row.message_id);
  }
  await send(hooks, ids);
  await hooks.sandbox.callbacksSettled();
  const [events] = await sql`
    select count(*)::int as n from public.message_events where message_id = any(${ids}::uuid[])`;
  assert.ok(events.n >= 3, `delivery events stored: ${events.n}`);
  // An AI draft (the model sees tokens; the desk's answer and our rows hold the rest).
  await expectJson(
    await api("/ai/drafts", {
      token: await tokenFor(agent),
      method: "POST",
      body: { case_id: person.caseId, intent: "reminder", channel: "email" },
    }),
    200,
  );

  // An inbound reply (STOP) from their phone, and a bounce of their email as SES reports it.
  await control(hooks.sandbox, "twilio/reply", { from: phone, text: "STOP" });
  await eventually("the inbound STOP is stored", async () => {
    const [row] = await sql`
      select count(*)::int as n from public.message_events
       where kind = 'inbound' and payload ->> 'From' = ${phone}`;
    return row.n === 1;
  });
  await sql`
    insert into public.suppressions (channel, address, reason, source)
    values ('email', ${email}, 'hard_bounce', 'ses_bounce')`;

  // A document uploaded through the API, named for the person, and its Storage row.
  const form = new FormData();
  form.set("kind", "other");
  form.set("customer_id", person.customerId);
  const pdf = new TextEncoder().encode("%PDF-1.7\n%\xe2\xe3\xcf\xd3\nerasure test\n");
  form.set("file", new File([pdf], `${person.fullName} letter.pdf`, { type: "application/pdf" }));
  const uploaded = await expectJson(
    await app.request("/api/documents", {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(agent)}` },
      body: form,
    }),
    201,
  );
  documentKey = uploaded.object_key;
  assert.ok(documentKey.includes(person.fullName), documentKey);
  assert.ok(await objectExists(store, documentKey), "the object is in the store");
  await sql`
    insert into storage.objects (bucket_id, name, metadata)
    values ('documents', ${documentKey}, ${
    sql.json({ size: pdf.length, mimetype: "application/pdf" })
  })`;

  // A tracked link clicked through `go`.
  const [link] = await sql`
    select private.tracked_link(${person.caseId}, 'https://rzp.io/i/erasuretest', 'payment_link')
      as url`;
  const code = String(link.url).split("/").pop();
  const click = await goApp.request(`/go/${code}`, {
    headers: { "user-agent": `Mozilla/5.0 (Linux; Android 14; ${person.fullName})` },
  });
  assert.equal(click.status, 302);

  // Everything is there before the erasure: the scan can fail.
  const before = await rowsNaming(needles);
  for (
    const table of [
      "public.customers",
      "public.messages",
      "public.message_events",
      "public.consents",
      "public.suppressions",
      "public.documents",
      "public.link_clicks",
      "storage.objects",
    ]
  ) {
    assert.ok(before[table] > 0, `${table} names the person before: ${JSON.stringify(before)}`);
  }
});

dbTest("erasure: refused with 409 while a payment is in flight, nothing changed", async () => {
  const token = await tokenFor(agent);
  const order = await expectJson(
    await api(`/cases/${person.caseId}/payments`, { token, method: "POST", body: {} }),
    201,
  );
  const state = await personState();
  const refused = await expectProblem(
    await erase(person.customerId, { reason: "Ticket DPR-2026-0042, asked by email" }),
    409,
  );
  assert.match(refused.detail, /payment order .* is created/);
  assert.deepEqual(await personState(), state);

  // Paid at the sandbox's Razorpay with the person's email and phone; its webhook is stored.
  const paid = await payControl<{ payment: { id: string } }>(payments.sandbox, "razorpay/pay", {
    orderId: order.order_id,
    email,
    contact: phone,
  });
  paymentId = paid.payment.id;
  await eventually("the payment is captured and credited", async () => {
    const [row] = await adminSql()`
      select status::text, credited_at from public.payments where razorpay_payment_id = ${paymentId}`;
    return row?.status === "captured" && row.credited_at !== null;
  });
  const [event] = await adminSql()`
    select count(*)::int as n from public.payment_events
     where payload::text like ${"%" + paymentId + "%"} and payload::text like ${"%" + email + "%"}`;
  assert.ok(event.n >= 1, "the Razorpay webhook with the person's email is stored");
});

dbTest("erasure: refusals per persona and bad bodies change nothing", async () => {
  const state = await personState();
  const reason = { reason: "Ticket DPR-2026-0042, asked by email" };
  await expectProblem(await erase(person.customerId, reason, agent), 403);
  await expectProblem(await erase(person.customerId, reason, "north.manager@py360.test"), 403);
  await expectProblem(await erase(person.customerId, reason, otherAgent), 404);
  await expectProblem(await erase(person.customerId, reason, "south.manager@py360.test"), 404);
  await expectProblem(await erase(person.customerId, reason, "analyst@py360.test"), 404);
  await expectProblem(await erase(crypto.randomUUID(), reason), 404);
  await expectProblem(
    await api(`/customers/${person.customerId}/erasure`, { method: "POST", body: reason }),
    401,
  );
  await expectProblem(await erase(person.customerId, { reason: "too short" }), 422);
  await expectProblem(await erase(person.customerId, { reason: "x".repeat(501) }), 422);
  await expectProblem(await erase(person.customerId, { ...reason, force: true }), 422);
  await expectProblem(await erase(person.customerId, {}), 422);
  await expectProblem(
    await api(`/customers/${person.customerId}/erasure`, {
      token: await tokenFor(admin),
      method: "POST",
      body: JSON.stringify(reason),
      contentType: null,
    }),
    415,
  );
  await expectProblem(await erase("not-a-uuid", reason), 422);
  assert.deepEqual(await personState(), state);
});

dbTest(
  "erasure: afterwards nothing names the person; the insurance record is unchanged",
  async () => {
    const record = await insuranceRecord();
    assert.ok(Number(record.premium_total) > 0);
    assert.equal(record.payments.length, 1);
    assert.ok(record.allocations.length >= 1, "the payment was allocated");

    const answer = await expectJson(
      await erase(person.customerId, { reason: "  Ticket DPR-2026-0042, asked by email  " }),
      200,
    );
    assert.equal(answer.customer_id, person.customerId);
    assert.ok(!Number.isNaN(Date.parse(answer.erased_at)));
    assert.equal(answer.counts.customers, 1);
    // The three sent here, the STOP's confirmation and the payment's receipt.
    assert.ok(answer.counts.messages >= 3, JSON.stringify(answer.counts));
    assert.equal(answer.counts.documents_deleted, 1);
    assert.ok(answer.counts.message_events >= 4, JSON.stringify(answer.counts));
    assert.ok(answer.counts.payment_events >= 1, JSON.stringify(answer.counts));
    assert.ok(answer.counts.ai_requests >= 1, JSON.stringify(answer.counts));

    assert.deepEqual(await rowsNaming(needles), {}, "no row names the person any more");
    assert.deepEqual(await insuranceRecord(), record, "premiums, installments, payments unchanged");

    const sql = adminSql();
    const [request] = await sql`
    select kind, status, reason, requested_by = (select id from auth.users where email = ${admin})
           as by_admin
      from public.data_requests where id = ${answer.data_request_id}`;
    assert.deepEqual({ ...request }, {
      kind: "erasure",
      status: "done",
      reason: "Ticket DPR-2026-0042, asked by email",
      by_admin: true,
    });
    const [queued] = await sql`
    select count(*)::int as n from private.object_deletions
     where bucket = 'documents' and object_key = ${documentKey} and reason = 'erasure'
       and done_at is null`;
    assert.equal(queued.n, 1, "the uploaded object is queued for deletion");
    const [customer] = await sql`
    select full_name from public.customers where id = ${person.customerId}`;
    assert.match(customer.full_name, /^Erased customer [0-9a-f]{8}$/);
  },
);

dbTest("erasure: cannot be undone, nor done twice", async () => {
  const state = await personState();
  const again = await expectProblem(
    await erase(person.customerId, { reason: "Ticket DPR-2026-0043, asked again" }),
    409,
  );
  assert.match(again.detail, /already erased/);
  // The customer's agent may correct contact details, but not bring back an erased person's.
  await expectProblem(
    await api(`/customers/${person.customerId}`, {
      token: await tokenFor(agent),
      method: "PATCH",
      body: { phone },
    }),
    409,
  );
  assert.deepEqual(await personState(), state);
});

dbTest("erasure: close the harnesses", async () => {
  await hooks.close();
  await desk.close();
  await payments.close();
  await store.close();
});
