// Generated documents made real (functions/_shared/documents/ensure.ts) and their short link
// (GET /go/d/{token}, functions/go): a pending renewal notice is rendered, stored once at its
// object key and marked stored with its size and SHA-256, however many workers race to do it;
// its link answers 409 while pending, then 302 to a presigned GET of the PDF valid 5 minutes;
// malformed, unknown and superseded tokens get the same 404 as an unknown code, and a malformed
// one never reaches the database.
import assert from "node:assert/strict";
import { ensureDocument } from "../../functions/_shared/documents/ensure.ts";
import { sha256 } from "../../functions/_shared/storage/s3.ts";
import app, { createGoApp, documentUrlSeconds } from "../../functions/go/app.ts";
import { gatewayHandler, loadFunctions } from "../../scripts/gateway.ts";
import { objectKeys, useObjectStore } from "./_object_store.ts";
import { shownText } from "./_pdf_text.ts";
import { adminSql, createCase, dbTest, expectProblem } from "./_helpers.ts";

const store = await useObjectStore();

/** A fresh case's renewal notice, registered pending: its id, link token and case. */
async function pendingNotice() {
  const { caseId } = await createCase("farah.agent@py360.test");
  const [row] = await adminSql()`
    select r.id, r.link_token
      from private.register_generated_document('renewal_notice', ${caseId}) r`;
  return { id: row.id as string, token: row.link_token as string, caseId };
}

/** The document's row as the assertions need it. */
async function documentRow(id: string) {
  const [row] = await adminSql()`
    select status, size_bytes, checksum_sha256, bucket, object_key, file_name, stored_at
      from public.documents where id = ${id}`;
  return row;
}

const go = (path: string, init: RequestInit = {}) => app.request(`/go${path}`, init);

dbTest(
  "receipts documents: a pending notice is rendered and stored once, however many race",
  async () => {
    const notice = await pendingNotice();
    assert.match(notice.token, /^[0-9A-Za-z]{22}$/);
    const before = await documentRow(notice.id);
    assert.equal(before.status, "pending");
    assert.equal(before.checksum_sha256, null);

    // Three workers at once: each may render and PUT, one mark wins, the others change nothing.
    const results = await Promise.all([1, 2, 3].map(() => ensureDocument(notice.id)));
    const after = await documentRow(notice.id);
    assert.equal(after.status, "stored");
    assert.match(after.checksum_sha256, /^[0-9a-f]{64}$/);
    for (const result of results) {
      assert.equal(result.checksumSha256, after.checksum_sha256);
      assert.equal(result.sizeBytes, Number(after.size_bytes));
      assert.equal(result.objectKey, after.object_key);
    }
    const mine = (await objectKeys(store)).filter((key) =>
      key.startsWith(`cases/${notice.caseId}/`)
    );
    assert.deepEqual(mine, [after.object_key], "one object, at the row's key");
    assert.equal(after.object_key, `cases/${notice.caseId}/${notice.id}/renewal_notice.pdf`);
    const bytes = await Deno.readFile(
      `${store.dir}/${store.bucket}/${after.object_key}._S3rver_object`,
    );
    assert.equal(new TextDecoder().decode(bytes.slice(0, 5)), "%PDF-");
    assert.equal(
      (await sha256(bytes)).hex,
      after.checksum_sha256,
      "the stored bytes are the row's",
    );
    // What it prints: the case's premium (its installments, ₹15,000) and the day its cover ends.
    const [who] = await adminSql()`
      select c.case_number, to_char(c.due_date, 'DD Mon YYYY') as ends, p.policy_number
        from public.renewal_cases c join public.policies p on p.id = c.policy_id
       where c.id = ${notice.caseId}`;
    const text = await shownText(bytes);
    for (
      const expected of [
        "Renewal notice",
        "Rs. 15,000.00",
        who.ends,
        who.case_number,
        who.policy_number,
      ]
    ) {
      assert.ok(text.includes(expected), `${expected} in ${text}`);
    }

    // Once stored, it is not rendered again: the store is not even asked.
    const again = await ensureDocument(notice.id, {
      put: () => Promise.reject(new Error("must not store again")),
      presign: () => Promise.reject(new Error("not asked")),
    });
    assert.equal(again.rendered, false);
    assert.equal(again.checksumSha256, after.checksum_sha256);
    assert.deepEqual(await documentRow(notice.id), after, "nothing changed");
  },
);

dbTest(
  "receipts documents: a store that fails leaves the document pending, to be retried",
  async () => {
    const notice = await pendingNotice();
    await assert.rejects(
      ensureDocument(notice.id, {
        put: () => Promise.reject(new Error("store down")),
        presign: () => Promise.reject(new Error("not asked")),
      }),
      /store down/,
    );
    assert.equal((await documentRow(notice.id)).status, "pending");
    await assert.rejects(ensureDocument(crypto.randomUUID()), /no document/);
    // The retry stores it.
    assert.equal((await ensureDocument(notice.id)).rendered, true);
    assert.equal((await documentRow(notice.id)).status, "stored");
  },
);

dbTest(
  "receipts documents: /go/d/{token} is 409 while pending, then 302 to the PDF for 5 minutes",
  async () => {
    const notice = await pendingNotice();
    const pending = await go(`/d/${notice.token}`);
    const problem = await expectProblem(pending, 409);
    assert.equal(problem.detail, "The document is being prepared; try again in a few seconds.");
    assert.equal(pending.headers.get("retry-after"), "5");
    assert.equal(pending.headers.get("location"), null);

    await ensureDocument(notice.id);
    const row = await documentRow(notice.id);
    const redirect = await go(`/d/${notice.token}`, { headers: { "user-agent": "Mozilla/5.0" } });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get("cache-control"), "no-store");
    assert.equal(redirect.headers.get("referrer-policy"), "no-referrer");
    const location = new URL(redirect.headers.get("location")!);
    assert.equal(location.origin, new URL(store.endpoint).origin);
    // The row's own bucket (the store's here: S3_BUCKET_NAME is "documents" too).
    assert.equal(row.bucket, store.bucket);
    assert.equal(decodeURIComponent(location.pathname), `/${row.bucket}/${row.object_key}`);
    assert.equal(location.searchParams.get("X-Amz-Expires"), String(documentUrlSeconds));
    assert.equal(documentUrlSeconds, 300);
    const pdf = await fetch(location);
    assert.equal(pdf.status, 200);
    const bytes = new Uint8Array(await pdf.arrayBuffer());
    assert.equal(new TextDecoder().decode(bytes.slice(0, 5)), "%PDF-");
    assert.equal((await sha256(bytes)).hex, row.checksum_sha256);

    // HEAD (a link preview) is redirected the same way.
    const head = await go(`/d/${notice.token}`, { method: "HEAD" });
    assert.equal(head.status, 302);
  },
);

dbTest(
  "receipts documents: malformed, unknown and superseded tokens are the same 404",
  async () => {
    const notice = await pendingNotice();
    await ensureDocument(notice.id);
    // A new token for the same document (register again): the old one stops working.
    const [fresh] = await adminSql()`
    select r.link_token from private.register_generated_document('renewal_notice', ${notice.caseId}) r`;
    assert.notEqual(fresh.link_token, notice.token);
    assert.equal((await go(`/d/${fresh.link_token}`)).status, 302);

    for (const path of [`/d/${notice.token}`, "/d/Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz"]) {
      const response = await go(path);
      const body = await expectProblem(response, 404);
      assert.equal(body.detail, "No such link, or it has expired.", path);
      assert.equal(response.headers.get("location"), null);
    }

    const asked: string[] = [];
    const spied = createGoApp({
      document: (token) => {
        asked.push(token);
        return Promise.resolve(null);
      },
      presign: () => Promise.reject(new Error("never")),
    });
    for (
      const path of [
        `/d/${"A".repeat(65)}`, // too long
        "/d/short", // too short
        "/d/abcdefghij-klmnopqrstu", // not base62
        "/d/..%2F..%2Fapi%2Fme", // traversal, encoded
        "/d/abcdefghijklmnopqrstuv%00", // a NUL
        `/d/${notice.token}/extra`, // more segments
        "/d/", // no token
      ]
    ) {
      for (const target of [app, spied]) {
        const response = await target.request(`/go${path}`);
        const body = await expectProblem(response, 404);
        assert.equal(body.detail, "No such link, or it has expired.", path);
      }
    }
    assert.deepEqual(asked, [], "no malformed token was looked up");
  },
);

dbTest("receipts documents: /go/d/{token} is served by the gateway without a JWT", async () => {
  const notice = await pendingNotice();
  await ensureDocument(notice.id);
  const handle = gatewayHandler(await loadFunctions());
  const response = await handle(
    new Request(`http://127.0.0.1/functions/v1/go/d/${notice.token}`, {
      headers: { "user-agent": "Mozilla/5.0" },
    }),
  );
  assert.equal(response.status, 302);
  const pdf = await fetch(response.headers.get("location")!);
  assert.equal(pdf.status, 200);
  assert.equal(
    new TextDecoder().decode(new Uint8Array(await pdf.arrayBuffer()).slice(0, 5)),
    "%PDF-",
  );
});

dbTest("receipts documents: close the object store", async () => {
  await store.close();
});
