// PUT /api/documents/{id}/legal-hold against a local S3 endpoint of its own: an admin places a
// legal hold (the document answered held, the delete then refused with 409, row and object kept,
// the change in the audit log under the admin), lifts it (a document outside retention is then
// deleted with its object); agents and managers are refused (403) and change nothing; an unknown
// id is a 404; a body that is not {hold: boolean} is a 422 and changes nothing.
import assert from "node:assert/strict";
import app from "../../functions/api/app.ts";
import {
  adminSql,
  api,
  type CaseFixture,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";
import { objectExists, useObjectStore } from "./_object_store.ts";

const store = await useObjectStore();

const agent = "arjun.agent@py360.test";
const manager = "cp.manager@py360.test";
const admin = "admin@py360.test";

let fixture: Promise<CaseFixture> | undefined;
const ownCase = () => fixture ??= createCase(agent);

/** An agent's upload of a small PDF of `kind` ("other": no retention) to their case. */
async function uploaded(kind = "other") {
  const { caseId } = await ownCase();
  const form = new FormData();
  form.set("kind", kind);
  form.set("case_id", caseId);
  form.set(
    "file",
    new File([new TextEncoder().encode("%PDF-1.7\n" + crypto.randomUUID())], "held.pdf"),
  );
  return await expectJson(
    await app.request("/api/documents", {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(agent)}` },
      body: form,
    }),
    201,
  );
}

/** PUT /api/documents/{id}/legal-hold with `body` as `email`. */
async function putHold(id: string, body: unknown, email = admin) {
  return await api(`/documents/${id}/legal-hold`, {
    token: await tokenFor(email),
    method: "PUT",
    body,
  });
}

async function heldInDb(id: string): Promise<boolean | undefined> {
  const [row] = await adminSql()`select legal_hold from public.documents where id = ${id}`;
  return row?.legal_hold;
}

dbTest("legal hold: an admin holds a document; its delete is refused (409)", async () => {
  const document = await uploaded();
  assert.equal(document.legal_hold, false);
  assert.equal(document.retain_until, null, "other: no retention to hide the hold behind");

  const held = await expectJson(await putHold(document.id, { hold: true }), 200);
  assert.equal(held.id, document.id);
  assert.equal(held.legal_hold, true);
  assert.equal(held.object_key, document.object_key);
  assert.equal(await heldInDb(document.id), true);

  const token = await tokenFor(admin);
  const refused = await expectProblem(
    await api(`/documents/${document.id}`, { token, method: "DELETE" }),
    409,
  );
  assert.match(refused.detail, /under legal hold/);
  assert.equal(await heldInDb(document.id), true, "the row is kept");
  assert.ok(await objectExists(store, document.object_key), "and its object");

  // Audited, under the admin who did it.
  const [audit] = await adminSql()`
    select a.actor_id = u.id as by_admin, a.new_row ->> 'legal_hold' as held
      from public.audit_log a join auth.users u on u.email = ${admin}
     where a.table_name = 'documents' and a.row_id = ${document.id}::uuid and a.action = 'update'
     order by a.id desc limit 1`;
  assert.equal(audit?.by_admin, true, "the hold is in the audit log under the admin");
  assert.equal(audit?.held, "true");

  // Holding it again changes nothing.
  const again = await expectJson(await putHold(document.id, { hold: true }), 200);
  assert.equal(again.legal_hold, true);
});

dbTest("legal hold: released, a document outside retention is deleted", async () => {
  const document = await uploaded();
  await expectJson(await putHold(document.id, { hold: true }), 200);
  const released = await expectJson(await putHold(document.id, { hold: false }), 200);
  assert.equal(released.legal_hold, false);
  assert.equal(await heldInDb(document.id), false);

  const token = await tokenFor(admin);
  const deleted = await api(`/documents/${document.id}`, { token, method: "DELETE" });
  assert.equal(deleted.status, 204);
  assert.equal(await heldInDb(document.id), undefined, "the row is gone");
  assert.equal(await objectExists(store, document.object_key), false, "and its object");
});

dbTest("legal hold: lifting it leaves a document's retention in force", async () => {
  const document = await uploaded("policy_copy");
  assert.ok(document.retain_until);
  await expectJson(await putHold(document.id, { hold: true }), 200);
  await expectJson(await putHold(document.id, { hold: false }), 200);
  const token = await tokenFor(admin);
  const refused = await expectProblem(
    await api(`/documents/${document.id}`, { token, method: "DELETE" }),
    409,
  );
  assert.match(refused.detail, /under legal retention until/);
});

dbTest("legal hold: agents and managers are refused (403), nothing changes", async () => {
  const document = await uploaded();
  for (const email of [agent, manager]) {
    // The agent sees the document (their case) and still may not hold it.
    await expectJson(
      await api(`/documents/${document.id}`, { token: await tokenFor(email) }),
      200,
    );
    const problem = await expectProblem(await putHold(document.id, { hold: true }, email), 403);
    assert.equal(problem.detail, "Only admins place or lift legal holds.", email);
    assert.equal(await heldInDb(document.id), false, email);
  }
  await expectJson(await putHold(document.id, { hold: true }), 200);
  await expectProblem(await putHold(document.id, { hold: false }, agent), 403);
  assert.equal(await heldInDb(document.id), true, "an agent cannot lift it either");
  await expectProblem(
    await api(`/documents/${document.id}/legal-hold`, { method: "PUT", body: { hold: false } }),
    401,
  );
  assert.equal(await heldInDb(document.id), true);
});

dbTest("legal hold: an unknown document is a 404", async () => {
  const problem = await expectProblem(await putHold(crypto.randomUUID(), { hold: true }), 404);
  assert.match(problem.detail, /document/);
  await expectProblem(await putHold("not-a-uuid", { hold: true }), 422);
});

dbTest("legal hold: a bad body is a 422 and changes nothing", async () => {
  const document = await uploaded();
  for (
    const body of [{}, { hold: "true" }, { hold: 1 }, { hold: null }, { hold: true, extra: 1 }, []]
  ) {
    const problem = await expectProblem(await putHold(document.id, body), 422);
    assert.ok(problem.errors?.length, JSON.stringify(body));
  }
  await expectProblem(await putHold(document.id, "{hold: true"), 400);
  assert.equal(await heldInDb(document.id), false);
  await expectProblem(
    await api(`/documents/${document.id}/legal-hold`, {
      token: await tokenFor(admin),
      method: "PUT",
      body: JSON.stringify({ hold: true }),
      contentType: null,
    }),
    415,
  );
  assert.equal(await heldInDb(document.id), false, "a body without its type holds nothing");
});

dbTest("legal hold: clean up (this file's rows, the store)", async () => {
  const { caseId } = await ownCase();
  await adminSql().begin(async (tx) => {
    // The retention guard refuses every role: this file's rows go without triggers.
    await tx`set local session_replication_role = replica`;
    await tx`delete from public.documents where case_id = ${caseId}`;
  });
  await store.close();
});
