// POST /api/customers/{id}/erasure, the must-show of issue 13: a customer with data everywhere,
// made through the real paths (messages sent through the gate and the providers to the vendor
// sandbox, whose signed delivery callbacks and an inbound STOP reach the webhooks; an order paid
// at the sandbox's Razorpay with its signed webhook; an AI draft against the sandbox's OpenAI; a
// document uploaded through the API to a local S3 store; a tracked link clicked through `go`) is
// erased by an admin; afterwards no row of any table or view in public, analytics and storage
// (every column cast to text) holds their name, phone (with and without +91 / +) or email, while
// the premiums, installments, payments and allocations are exactly as before. Refusals (non-admin
// 403, invisible or unknown 404, payment in flight and already erased 409, bad bodies 422) change
// nothing. Two KYC papers the law keeps (5 years), uploaded under the person's name (through the
// API, and straight to Storage with the name in the upload's metadata), survive the erasure with
// no trace of the name anywhere: object keys hold no file name, the file name is replaced. A
// refund's Razorpay webhook arriving after the erasure is applied and then stored without the
// person's email, contact and notes.
import assert from "node:assert/strict";
import app from "../../functions/api/app.ts";
import goApp from "../../functions/go/app.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import { objectExists, useObjectStore } from "./_object_store.ts";
import {
  control as payControl,
  eventually,
  madeEvents,
  postWebhook,
  startPayments,
} from "./_payments.ts";
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

// A name no other test's customer shares: the scans below read every row of the shared database.
const letters = Array.from(
  crypto.getRandomValues(new Uint8Array(8)),
  (b) => "abcdefghijklmnopqrstuvwxyz"[b % 26],
);
const person = await deskCustomer({
  agent,
  preferredChannel: "email",
  fullName: `Zorawar${letters.join("")} Quayle-Erasmo`,
});
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
/** The person's second policy, whose renewal the desk lost (with a reason naming them). */
let lostPolicyId = "";
let documentKey = "";
/** The KYC papers kept by law: id, object key, and whether the object is in the test store. */
const keptDocuments: { id: string; key: string; inStore: boolean }[] = [];

/** The person's name in private.object_deletions (not in the scanned schemas): how many rows. */
async function deletionsNaming(words: string[]): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from private.object_deletions d
     where exists (select 1 from unnest(${words}::text[]) w where strpos(lower(d::text), w) > 0)`;
  return row.n;
}

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

  // A grant through the desk's API whose source and notice version carry the person (both are
  // free text the API accepts); erasure leaves neither in the ledger, consents or the audit log.
  await expectJson(
    await api(`/customers/${person.customerId}/consents`, {
      token: await tokenFor(agent),
      method: "POST",
      body: {
        channel: "email",
        purpose: "service",
        status: "granted",
        source: `x${national}`,
        evidence: { call_id: "C-77" },
        notice_version: `${person.fullName} ${email}`,
      },
    }),
    201,
  );

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

  // The desk's free text naming the person: a call task's outcome, and why a second renewal of
  // theirs was lost (the policy timeline shows both).
  await sql`
    insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at, status, outcome,
                              done_at)
    select ${person.caseId}, assignee_id, now() - interval '1 day', 24, now(), 'done',
           ${`Spoke to ${person.fullName} on ${phone}; papers to ${email}`}, now()
      from public.renewal_cases where id = ${person.caseId}`;
  const [lost] = await sql<{ policy_id: string; case_id: string }[]>`
    with policy as (
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date)
      select ${person.policyNumber + "-H"}, 'health', 'Test Health', p.customer_id, p.agent_id,
             500000, 10000000, p.start_date, p.end_date
        from public.policies p where p.policy_number = ${person.policyNumber}
      returning id, customer_id, agent_id, end_date)
    insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
    select id, customer_id, agent_id, end_date, end_date from policy
    returning policy_id, id as case_id`;
  lostPolicyId = lost.policy_id;
  await sql`
    update public.renewal_cases
       set stage = 'lost', lost_reason = ${`${person.firstName} moved insurer; call ${national}`}
     where id = ${lost.case_id}`;
  const timeline = await api(`/policies/${lostPolicyId}/timeline`, {
    token: await tokenFor(admin),
  });
  assert.ok((await timeline.text()).includes(national), "the timeline shows the lost reason");

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
  assert.equal(uploaded.file_name, `${person.fullName} letter.pdf`);
  assert.equal(documentKey, `customers/${person.customerId}/${uploaded.id}/other.pdf`, "no name");
  assert.ok(await objectExists(store, documentKey), "the object is in the store");
  await sql`
    insert into storage.objects (bucket_id, name, metadata)
    values ('documents', ${documentKey}, ${
    sql.json({ size: pdf.length, mimetype: "application/pdf" })
  })`;

  // Their PAN card, a KYC paper kept 5 years, uploaded through the API under their name.
  const kycForm = new FormData();
  kycForm.set("kind", "kyc");
  kycForm.set("case_id", person.caseId);
  kycForm.set(
    "file",
    new File([pdf], `${person.fullName} PAN card.pdf`, { type: "application/pdf" }),
  );
  const kyc = await expectJson(
    await app.request("/api/documents", {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(agent)}` },
      body: kycForm,
    }),
    201,
  );
  assert.equal(kyc.file_name, `${person.fullName} PAN card.pdf`);
  assert.equal(kyc.object_key, `cases/${person.caseId}/${kyc.id}/kyc.pdf`);
  assert.ok(kyc.retain_until > new Date().toISOString().slice(0, 10), "kept by law");
  await sql`
    insert into storage.objects (bucket_id, name, metadata)
    values ('documents', ${kyc.object_key}, ${
    sql.json({ size: pdf.length, mimetype: "application/pdf" })
  })`;
  keptDocuments.push({ id: kyc.id, key: kyc.object_key, inStore: true });
  // Their Aadhaar, put straight into Storage by the agent (supabase-js), the name in its metadata.
  const directId = crypto.randomUUID();
  const directKey = `cases/${person.caseId}/${directId}/kyc.pdf`;
  await sql`
    insert into storage.objects (bucket_id, name, owner, metadata, user_metadata)
    values ('documents', ${directKey}, (select id from auth.users where email = ${agent}),
            ${sql.json({ size: pdf.length, mimetype: "application/pdf" })},
            ${sql.json({ kind: "kyc", file_name: `${person.fullName} Aadhaar.pdf` })})`;
  const [direct] = await sql`
    select kind::text, file_name, retain_until > current_date as kept from public.documents
     where id = ${directId}`;
  assert.deepEqual({ ...direct }, {
    kind: "kyc",
    file_name: `${person.fullName} Aadhaar.pdf`,
    kept: true,
  });
  keptDocuments.push({ id: directId, key: directKey, inStore: false });

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
      "public.consent_ledger",
      "public.suppressions",
      "public.documents",
      "public.link_clicks",
    ]
  ) {
    assert.ok(before[table] > 0, `${table} names the person before: ${JSON.stringify(before)}`);
  }
  // Storage never held the name: keys are {kind}.{ext}, the name sent in metadata is not kept.
  assert.equal(before["storage.objects"], undefined, JSON.stringify(before));
  const [names] = await sql`
    select count(*)::int as n from public.documents
     where id = any (${keptDocuments.map((d) => d.id)}::uuid[])
       and strpos(lower(file_name), ${person.fullName.toLowerCase()}) > 0`;
  assert.equal(names.n, 2, "the kept papers are named for the person before");
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
      await erase(person.customerId, {
        reason: `  Ticket DPR-2026-0042, asked by ${person.fullName} from ${email}  `,
      }),
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
      reason: "Ticket DPR-2026-0042, asked by <customer> from <customer>",
      by_admin: true,
    });
    assert.equal(answer.counts.task_outcomes, 1);
    assert.equal(answer.counts.lost_reasons, 1);
    for (
      const policy of [
        lostPolicyId,
        (await sql`
      select id from public.policies where policy_number = ${person.policyNumber}`)[0].id,
      ]
    ) {
      const timeline = await (await api(`/policies/${policy}/timeline`, {
        token: await tokenFor(admin),
      })).text();
      assert.ok(timeline.includes("<customer>"), "the erasure is there, its reason scrubbed");
      for (const needle of needles) {
        assert.ok(!timeline.toLowerCase().includes(needle), `the timeline names ${needle}`);
      }
    }
    const [queued] = await sql`
    select count(*)::int as n from private.object_deletions
     where bucket = 'documents' and object_key = ${documentKey} and reason = 'erasure'
       and done_at is null`;
    assert.equal(queued.n, 1, "the uploaded object is queued for deletion");

    // The KYC papers the law keeps survive, bytes and rows, and name nobody.
    const kept = await sql`
      select d.id, d.object_key, d.file_name, d.retain_until > current_date as retained,
             exists (select 1 from storage.objects o
                      where o.bucket_id = 'documents' and o.name = d.object_key) as in_storage
        from public.documents d where d.id = any (${keptDocuments.map((d) => d.id)}::uuid[])
       order by d.id`;
    assert.equal(kept.length, 2, "both kept papers are still there");
    for (const row of kept) {
      const known = keptDocuments.find((d) => d.id === row.id)!;
      assert.equal(row.object_key, known.key, "under the same key");
      assert.ok(row.retained && row.in_storage, JSON.stringify(row));
      assert.match(row.file_name, /^kyc-[0-9a-f]{8}\.pdf$/, "a generic file name");
      if (known.inStore) assert.ok(await objectExists(store, row.object_key), "its bytes too");
    }
    assert.equal(await deletionsNaming(needles), 0, "nor does the deletion queue");
    const [customer] = await sql`
    select full_name from public.customers where id = ${person.customerId}`;
    assert.match(customer.full_name, /^Erased customer [0-9a-f]{8}$/);
  },
);

dbTest(
  "erasure: a refund's webhook after the erasure is applied, then keeps no personal field",
  async () => {
    // A refund made later at Razorpay's dashboard: its signed refund.processed carries the payment
    // entity with the person's email and contact, and notes naming them.
    const captured = (await madeEvents(payments.sandbox, paymentId)).find((made) =>
      made.event === "payment.captured"
    );
    assert.ok(captured, "the payment's captured event");
    const payment = JSON.parse(captured.body).payload.payment.entity;
    assert.equal(payment.email, email, "Razorpay's payment names the person");
    const refundId = `rfnd_late${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const now = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({
      entity: "event",
      account_id: "acc_sandbox",
      event: "refund.processed",
      contains: ["refund", "payment"],
      payload: {
        refund: {
          entity: {
            id: refundId,
            entity: "refund",
            amount: 100000,
            currency: "INR",
            payment_id: paymentId,
            notes: { asked_by: person.fullName, phone },
            status: "processed",
            created_at: now,
          },
        },
        payment: { entity: { ...payment, amount_refunded: 100000, refund_status: "partial" } },
      },
      created_at: now,
    });
    const eventId = `evt_late${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const answer = await postWebhook(payments.webhookUrl, body, {
      eventId,
      secret: payments.sandbox.credentials.razorpayWebhookSecret,
    });
    assert.equal(answer.status, 200, await answer.text());
    const sql = adminSql();
    const [event] = await sql`
    select status, note, processed_at, payload from public.payment_events where event_id = ${eventId}`;
    assert.equal(event.status, "applied", `applied: the refund is recorded (${event.note})`);
    assert.ok(event.processed_at);
    const [refund] = await sql`
    select status, amount::int from public.refunds where razorpay_refund_id = ${refundId}`;
    assert.deepEqual({ ...refund }, { status: "processed", amount: 100000 });
    const stored = JSON.stringify(event.payload);
    assert.ok(stored.includes(refundId) && stored.includes(paymentId), "its ids stay");
    for (const key of ['"email"', '"contact"', '"notes"']) {
      assert.ok(!stored.includes(key), `${key} is gone: ${stored}`);
    }
    assert.deepEqual(await rowsNaming(needles), {}, "still no row names the person");
  },
);

dbTest("erasure: cannot be undone, nor done twice", async () => {
  const state = await personState();
  const again = await expectProblem(
    await erase(person.customerId, { reason: "Ticket DPR-2026-0043, asked again" }),
    409,
  );
  assert.match(again.detail, /already erased/);
  // The desk cannot grant the erased person a consent again, evidence naming them or not.
  const consentBody = {
    channel: "whatsapp",
    purpose: "marketing",
    status: "granted",
    source: "web_form",
    evidence: { form: `signed by ${person.fullName}, ${email}` },
  };
  for (const who of [agent, admin]) {
    const refused = await expectProblem(
      await api(`/customers/${person.customerId}/consents`, {
        token: await tokenFor(who),
        method: "POST",
        body: consentBody,
      }),
      409,
    );
    assert.match(refused.detail, /erased/);
  }
  // Nor write the person back: a document named for them gets the generic name, and the case
  // chat is refused before anything reaches the model.
  const form = new FormData();
  form.set("kind", "other");
  form.set("case_id", person.caseId);
  const pdf = new TextEncoder().encode("%PDF-1.7\n%\xe2\xe3\xcf\xd3\nafter erasure\n");
  form.set(
    "file",
    new File([pdf], `${person.fullName} ${national}.pdf`, { type: "application/pdf" }),
  );
  const uploaded = await expectJson(
    await app.request("/api/documents", {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(agent)}` },
      body: form,
    }),
    201,
  );
  assert.equal(uploaded.file_name, `other-${uploaded.id.slice(0, 8)}.pdf`);
  const chat = await expectProblem(
    await api("/ai/chat", {
      token: await tokenFor(agent),
      method: "POST",
      body: { case_id: person.caseId, message: `Call ${person.fullName} on ${national}?` },
    }),
    409,
  );
  assert.match(chat.detail, /erased/);
  assert.deepEqual(await rowsNaming(needles), {}, "still no row names the person");
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
