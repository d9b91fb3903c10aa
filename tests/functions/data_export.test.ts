// Data exports end to end against a local S3 endpoint of its own (s3rver): an admin asks for a
// customer's export (202, pending), a housekeeping run builds it, and the data request then
// offers a presigned download whose JSON holds the customer's rows (profile, messages,
// payments, consents, the documents list, AI calls) and nobody else's. Non-admins are refused
// and nothing is recorded; the object store down leaves the request pending for a later run
// after a back-off (nothing lost) and fails it after 3 attempts; an expired export's object is
// deleted by the sweep; two runners at once build each export once. The housekeeping function
// answers only the service_role key.
import assert from "node:assert/strict";
import housekeeping from "../../functions/housekeeping/app.ts";
import { runPendingExports } from "../../functions/_shared/privacy/exports.ts";
import { runHousekeeping } from "../../functions/_shared/privacy/housekeeping.ts";
import { startHousekeeper } from "../../scripts/lib/housekeeper.ts";
import { startObjectStore } from "../../scripts/lib/object_store.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  localApiKeys,
  tokenFor,
} from "./_helpers.ts";
import { objectExists, type ObjectStore } from "./_object_store.ts";

// The store keeps its folder and port across a stop and a start: "down" is the same address with
// nothing listening, "back" the same objects again.
const storeDir = await Deno.makeTempDir({ prefix: "py360-export-objects-" });
let store: ObjectStore = await startObjectStore({ bucket: "documents", dir: storeDir });
const storePort = Number(new URL(store.endpoint).port);
for (const [name, value] of Object.entries(store.env)) Deno.env.set(name, value);

async function storeDown(): Promise<void> {
  await store.close();
}

async function storeUp(): Promise<void> {
  store = await startObjectStore({ bucket: "documents", dir: storeDir, port: storePort });
}

const admin = "admin@py360.test";
const agent = "arjun.agent@py360.test";
const manager = "north.manager@py360.test";
const analyst = "analyst@py360.test";

/**
 * A customer with a message, a payment, a consent, a document and an AI call of their own, and,
 * held by their own phone and email with no key to them, an inbound SMS tied to no message and
 * a suppression of their email.
 */
async function customerWithData(tag: string) {
  const fixture = await createCase(agent);
  const sql = adminSql();
  const key = `${tag}_${crypto.randomUUID().slice(0, 8)}`;
  const documentId = crypto.randomUUID();
  const phone = `+9197${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
  const email = `${key}@export.py360.test`;
  await sql`update public.customers set phone = ${phone}, email = ${email}
             where id = ${fixture.customerId}`;
  await sql`
    insert into public.message_events (provider, event_key, kind, payload)
    values ('twilio', ${`export-in-${key}`}, 'inbound',
            ${sql.json({ From: phone, Body: `Inbound ${key}` })})`;
  await sql`
    insert into public.suppressions (channel, address, reason, source)
    values ('email', ${email}, 'hard_bounce', 'data_export_test')`;
  await sql`
    insert into public.messages (customer_id, case_id, channel, purpose, body, recipient,
                                 idempotency_key, status)
    values (${fixture.customerId}, ${fixture.caseId}, 'sms', 'transactional',
            ${`Message body ${key}`}, '+919900000000', ${`export-${key}`}, 'delivered')`;
  await sql`
    insert into public.payments (case_id, razorpay_order_id, razorpay_payment_id, amount)
    values (${fixture.caseId}, ${`order_${key}`}, ${`pay_${key}`}, 1500000)`;
  await sql`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${fixture.customerId}, 'email', 'marketing', 'granted', 'import')`;
  await sql`
    insert into public.documents (id, kind, customer_id, object_key, file_name, content_type,
                                  stored_at)
    values (${documentId}, 'kyc', ${fixture.customerId},
            ${`customers/${fixture.customerId}/${documentId}/kyc.pdf`},
            ${`kyc-${key}.pdf`}, 'application/pdf', now())`;
  await sql`
    insert into public.ai_requests (purpose, customer_id, case_id, model, prompt_hash)
    values ('chat', ${fixture.customerId}, ${fixture.caseId}, 'gpt-4o-mini', repeat('f', 64))`;
  return { ...fixture, key, email };
}

/** POST /api/customers/{id}/export as `email`. */
async function requestExport(email: string, customerId: string, body?: unknown) {
  return await api(`/customers/${customerId}/export`, {
    method: "POST",
    token: await tokenFor(email),
    body,
  });
}

async function requestRow(id: string) {
  const [row] = await adminSql()<
    { status: string; attempts: number; error: string | null; object_key: string | null }[]
  >`select status, attempts, error, object_key from public.data_requests where id = ${id}`;
  return row;
}

async function exportCount(customerId: string): Promise<number> {
  const [{ count }] = await adminSql()<{ count: number }[]>`
    select count(*)::int from public.data_requests where customer_id = ${customerId}`;
  return count;
}

/** The back-off after a failed attempt (1 minute, then 5) is over: time passes, in the database. */
async function backOffPasses(id: string): Promise<void> {
  await adminSql()`
    update public.data_requests set lease_expires_at = now() - interval '1 second'
     where id = ${id} and status = 'pending'`;
}

/** Nothing else pending disturbs the runs below (a leftover of an earlier failed run). */
async function settleOtherExports(keep: string[] = []): Promise<void> {
  await adminSql()`
    update public.data_requests set status = 'failed', error = 'set aside by data_export.test'
     where kind = 'export' and status in ('pending', 'running') and not (id = any(${keep}::uuid[]))`;
}

dbTest(
  "data export: requested, built in the background, downloaded with the customer's rows only",
  async () => {
    const mine = await customerWithData("mine");
    const other = await customerWithData("other");
    await settleOtherExports();
    const token = await tokenFor(admin);

    const created = await expectJson(
      await requestExport(admin, mine.customerId, { reason: "Access request, ticket DPR-1" }),
      202,
    );
    assert.equal(created.kind, "export");
    assert.equal(created.status, "pending");
    assert.equal(created.customer_id, mine.customerId);
    assert.equal(created.reason, "Access request, ticket DPR-1");
    assert.equal(created.download, null);
    const [adminUser] = await adminSql()`select id from auth.users where email = ${admin}`;
    assert.equal(created.requested_by, adminUser.id);

    const pending = await expectJson(await api(`/data-requests/${created.id}`, { token }), 200);
    assert.equal(pending.status, "pending");
    assert.equal(pending.download, null, "no download before it is built");

    const stats = await runHousekeeping();
    assert.equal(stats.exports.built, 1);
    assert.equal(stats.exports.failed + stats.exports.retried, 0);

    const done = await expectJson(await api(`/data-requests/${created.id}`, { token }), 200);
    assert.equal(done.status, "done");
    assert.ok(done.byte_size > 0);
    const completed = Date.parse(done.completed_at);
    assert.equal(Date.parse(done.expires_at) - completed, 7 * 86_400_000, "offered 7 days");
    assert.ok(done.download, "a download once done");
    const urlExpires = Date.parse(done.download.expires_at) - Date.now();
    assert.ok(urlExpires > 14 * 60_000 && urlExpires <= 15 * 60_000, "a URL of 15 minutes");
    assert.ok(await objectExists(store, `exports/${created.id}.json`));

    const download = await fetch(done.download.download_url);
    assert.equal(download.status, 200);
    const text = await download.text();
    assert.equal(new TextEncoder().encode(text).byteLength, done.byte_size);
    const doc = JSON.parse(text);
    assert.equal(doc.customer_id, mine.customerId);
    const tables = doc.tables as Record<string, Record<string, unknown>[]>;
    assert.equal(tables["public.customers"][0].id, mine.customerId);
    assert.deepEqual(tables["public.messages"].map((m) => m.body), [`Message body ${mine.key}`]);
    assert.deepEqual(tables["public.payments"].map((p) => p.razorpay_payment_id), [
      `pay_${mine.key}`,
    ]);
    assert.ok(
      tables["public.consents"].some((c) => c.channel === "email" && c.purpose === "marketing"),
      "the consent",
    );
    assert.deepEqual(tables["public.documents"].map((d) => d.file_name), [`kyc-${mine.key}.pdf`]);
    assert.equal(tables["public.ai_requests"].length, 1, "the AI call");
    assert.deepEqual(tables["public.policies"].map((p) => p.id), [mine.policyId]);
    assert.ok(Array.isArray(tables["public.audit_log"]), "the audit history is listed");
    assert.deepEqual(
      tables["public.message_events"].filter((e) => e.message_id === null).map((e) => e.event_key),
      [`export-in-${mine.key}`],
      "their inbound SMS, tied to no message, found by their phone",
    );
    assert.deepEqual(tables["public.suppressions"].map((e) => e.address), [mine.email]);
    // Not the other customer's.
    assert.ok(!text.includes(other.customerId), "the other customer's id appears nowhere");
    assert.ok(!text.includes(other.key), "nor their message, payment or document");
    // A fresh URL at each read, until the export ends.
    const again = await expectJson(await api(`/data-requests/${created.id}`, { token }), 200);
    assert.ok(again.download.download_url);

    // The list shows it, newest first, page by page.
    const second = await expectJson(await requestExport(admin, mine.customerId), 202);
    assert.equal(second.reason, null, "the body is optional");
    const page1 = await expectJson(
      await api(`/data-requests?customer_id=${mine.customerId}&limit=1`, { token }),
      200,
    );
    assert.deepEqual(page1.data.map((r: { id: string }) => r.id), [second.id]);
    assert.equal(page1.data[0].download, null, "lists carry no download");
    const page2 = await expectJson(
      await api(
        `/data-requests?customer_id=${mine.customerId}&limit=1&cursor=${page1.next_cursor}`,
        { token },
      ),
      200,
    );
    assert.deepEqual(page2.data.map((r: { id: string }) => r.id), [created.id]);
    assert.equal(page2.next_cursor, null);
    const done1 = await expectJson(
      await api(`/data-requests?customer_id=${mine.customerId}&status=done`, { token }),
      200,
    );
    assert.deepEqual(done1.data.map((r: { id: string }) => r.id), [created.id]);
    await expectProblem(await api(`/data-requests?cursor=bm90LWEtY3Vyc29y`, { token }), 422);
    await settleOtherExports();
  },
);

dbTest("data export: refused to everyone but admins, nothing recorded", async () => {
  const { customerId } = await createCase(agent);
  for (const email of [agent, manager, analyst]) {
    await expectProblem(await requestExport(email, customerId), 403);
    await expectProblem(await api(`/data-requests`, { token: await tokenFor(email) }), 403);
  }
  await expectProblem(
    await api(`/customers/${customerId}/export`, { method: "POST" }),
    401,
  );
  assert.equal(await exportCount(customerId), 0, "no request recorded");
  const token = await tokenFor(admin);
  await expectProblem(
    await requestExport(admin, "00000000-0000-4000-8000-000000000000"),
    404,
  );
  await expectProblem(await requestExport(admin, "not-a-uuid"), 422);
  await expectProblem(await requestExport(admin, customerId, { reason: "x".repeat(501) }), 422);
  await expectProblem(await requestExport(admin, customerId, { why: "unknown field" }), 422);
  assert.equal(await exportCount(customerId), 0, "bad input changes nothing");
  const created = await expectJson(await requestExport(admin, customerId), 202);
  await expectProblem(
    await api(`/data-requests/${created.id}`, { token: await tokenFor(agent) }),
    403,
  );
  await expectProblem(
    await api(`/data-requests/00000000-0000-4000-8000-000000000000`, { token }),
    404,
  );
  await settleOtherExports();
});

dbTest(
  "data export: the store down leaves it pending for a later run, then failed after 3",
  async () => {
    const { customerId } = await customerWithData("down");
    await settleOtherExports();
    const created = await expectJson(await requestExport(admin, customerId), 202);
    await storeDown();
    try {
      const first = await runPendingExports();
      assert.deepEqual(first, { built: 0, retried: 1, failed: 0 });
      const afterFirst = await requestRow(created.id);
      assert.equal(afterFirst.status, "pending", "kept for the next run");
      assert.equal(afterFirst.attempts, 1);
      assert.ok(afterFirst.error, "the error is recorded");
      assert.deepEqual(
        await runPendingExports(),
        { built: 0, retried: 0, failed: 0 },
        "not tried again before its back-off",
      );
    } finally {
      await storeUp();
    }
    await backOffPasses(created.id);
    const second = await runPendingExports();
    assert.deepEqual(second, { built: 1, retried: 0, failed: 0 }, "nothing lost: built when back");
    const built = await requestRow(created.id);
    assert.equal(built.status, "done");
    assert.equal(built.attempts, 2);
    assert.equal(built.error, null);
    assert.ok(await objectExists(store, `exports/${created.id}.json`));

    // Down for good: three attempts, then failed with the error.
    const doomed = await expectJson(await requestExport(admin, customerId), 202);
    await storeDown();
    try {
      for (let run = 1; run <= 3; run++) {
        await backOffPasses(doomed.id);
        await runPendingExports();
      }
    } finally {
      await storeUp();
    }
    const failed = await requestRow(doomed.id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.attempts, 3);
    assert.ok(failed.error);
    await backOffPasses(doomed.id);
    assert.deepEqual(await runPendingExports(), { built: 0, retried: 0, failed: 0 }, "not again");
    const shown = await expectJson(
      await api(`/data-requests/${doomed.id}`, { token: await tokenFor(admin) }),
      200,
    );
    assert.equal(shown.status, "failed");
    assert.equal(shown.download, null);
  },
);

dbTest("data export: an expired export's object is deleted by the sweep", async () => {
  const { customerId } = await createCase(agent);
  await settleOtherExports();
  const created = await expectJson(await requestExport(admin, customerId), 202);
  await runHousekeeping();
  const key = `exports/${created.id}.json`;
  assert.ok(await objectExists(store, key));
  await adminSql()`
    update public.data_requests set expires_at = now() - interval '1 second' where id = ${created.id}`;
  const [{ last }] = await adminSql()`
    select coalesce(max(id), 0)::int as last from private.object_deletions`;
  const stats = await runHousekeeping();
  assert.ok(stats.expired_exports >= 1);
  assert.ok(stats.object_deletions.deleted >= 1);
  assert.equal(await objectExists(store, key), false, "the object is gone");
  // A deletion that is done keeps no key: the export's is the one queued by this run.
  const deletions = await adminSql()`
    select reason, done_at, attempts, object_key from private.object_deletions
     where bucket = 'documents' and id > ${last} and reason = 'export_expired'`;
  assert.equal(deletions.length, 1);
  const [deletion] = deletions;
  assert.equal(deletion.object_key, null, "the deleted object's key is not kept");
  assert.equal(deletion.reason, "export_expired");
  assert.ok(deletion.done_at);
  assert.equal(deletion.attempts, 1);
  assert.equal((await requestRow(created.id)).status, "done", "the request stays, as evidence");
  const shown = await expectJson(
    await api(`/data-requests/${created.id}`, { token: await tokenFor(admin) }),
    200,
  );
  assert.equal(shown.download, null, "no longer offered");
  // An object already gone counts as deleted: queued again, swept again, done.
  await adminSql()`select private.queue_object_deletion('documents', ${key}, 'retention')`;
  const again = await runHousekeeping();
  assert.ok(again.object_deletions.deleted >= 1);
  assert.equal(again.object_deletions.failed, 0);
});

dbTest("data export: two runners at once build each export once", async () => {
  const { customerId } = await createCase(agent);
  await settleOtherExports();
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    ids.push((await expectJson(await requestExport(admin, customerId), 202)).id);
  }
  const [a, b] = await Promise.all([
    runPendingExports({ maxExports: 10 }),
    runPendingExports({ maxExports: 10 }),
  ]);
  assert.equal(a.built + b.built, 4, JSON.stringify({ a, b }));
  assert.equal(a.retried + b.retried + a.failed + b.failed, 0);
  const rows = await adminSql()<{ status: string; attempts: number }[]>`
    select status, attempts from public.data_requests where id = any(${ids}::uuid[])`;
  assert.deepEqual(rows.map((r) => [r.status, r.attempts]), ids.map(() => ["done", 1]));
});

dbTest("housekeeper: the local worker's timer builds a requested export", async () => {
  const { customerId } = await createCase(agent);
  await settleOtherExports();
  const created = await expectJson(await requestExport(admin, customerId), 202);
  const housekeeper = startHousekeeper({ everyMs: 100 });
  try {
    // Polled, not timed: the timer's runs build it sooner or later (a generous bound).
    for (let i = 0; i < 300 && (await requestRow(created.id)).status !== "done"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await housekeeper.stop();
  }
  const row = await requestRow(created.id);
  assert.equal(row.status, "done");
  assert.equal(row.attempts, 1);
  assert.ok(await objectExists(store, `exports/${created.id}.json`));
});

dbTest("housekeeping function: the service_role key only, and a run's report", async () => {
  const keys = await localApiKeys();
  const post = (token: string | undefined, body?: string) =>
    housekeeping.request("/housekeeping/run", {
      method: "POST",
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        "content-type": "application/json",
      },
      body,
    });
  await expectProblem(await post(undefined), 401);
  await expectProblem(await post(keys.anon), 403);
  await expectProblem(await post(await tokenFor(admin)), 403);
  await expectProblem(await post(keys.serviceRole, '{"max_exports": 0}'), 422);
  await expectProblem(await post(keys.serviceRole, '{"extra": 1}'), 422);
  await settleOtherExports();
  const { customerId } = await createCase(agent);
  const created = await expectJson(await requestExport(admin, customerId), 202);
  const report = await expectJson(await post(keys.serviceRole, "{}"), 200);
  assert.equal(report.exports.built, 1);
  assert.equal(typeof report.expired_exports, "number");
  assert.equal(typeof report.object_deletions.deleted, "number");
  assert.equal((await requestRow(created.id)).status, "done");
  await store.close();
  await Deno.remove(storeDir, { recursive: true }).catch(() => {});
  for (const name of Object.keys(store.env)) Deno.env.delete(name);
});
