// /api/documents against a local S3 endpoint of its own (s3rver, tests/functions/_object_store.ts):
// an agent uploads to their case and their customer, lists page by page, downloads the same bytes
// through the presigned URL; another agent, an analyst and callers without a user token are
// refused; an oversize or disguised file, a case the caller cannot see, a bad form and a record
// the database refuses leave neither a row nor an object; admins delete, except what is under
// legal retention or hold. What the store holds is read from its folder, past the API.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import app from "../../functions/api/app.ts";
import { config } from "../../functions/_shared/config.ts";
import {
  adminSql,
  api,
  type CaseFixture,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  localApiKeys,
  tokenFor,
} from "./_helpers.ts";
import { objectExists, objectKeys, useObjectStore } from "./_object_store.ts";

const maxBytes = 64 * 1024;
Deno.env.set("DOCUMENT_MAX_BYTES", String(maxBytes));
const store = await useObjectStore();

const agent = "arjun.agent@py360.test";
const otherAgent = "kavya.agent@py360.test";
const admin = "admin@py360.test";
const analyst = "analyst@py360.test";

/** Bytes that start with `head` and go on with `size - head.length` random bytes. */
function bytesOf(head: number[] | string, size: number): Uint8Array<ArrayBuffer> {
  const start = typeof head === "string" ? new TextEncoder().encode(head) : new Uint8Array(head);
  const bytes = new Uint8Array(size);
  crypto.getRandomValues(bytes.subarray(0, Math.min(size, 65_536)));
  for (let i = 65_536; i < size; i += 65_536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65_536)));
  }
  bytes.set(start);
  return bytes;
}

const pdf = (size = 2_000) => bytesOf("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", size);
const png = (size = 2_000) => bytesOf([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], size);
const jpeg = (size = 2_000) => bytesOf([0xff, 0xd8, 0xff, 0xe0], size);
const webp = (size = 2_000) => bytesOf("RIFF\x00\x00\x00\x00WEBPVP8 ", size);
/** A Windows executable's header (MZ), as a disguised upload would carry. */
const exe = (size = 2_000) => bytesOf("MZ\x90\x00\x03\x00\x00\x00", size);

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

interface Upload {
  file?: { bytes: Uint8Array<ArrayBuffer>; name: string; type?: string };
  fields?: Record<string, string>;
  token?: string;
}

/** POST /api/documents with a multipart form, as a browser's FormData sends it. */
function upload({ file, fields = {}, token }: Upload): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  if (file) form.set("file", new File([file.bytes], file.name, { type: file.type ?? "" }));
  return Promise.resolve(app.request("/api/documents", {
    method: "POST",
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body: form,
  }));
}

/** The documents rows of a case or customer, as the database holds them. */
async function rowsOf(id: string) {
  return await adminSql()<{ id: string; object_key: string }[]>`
    select id, object_key from public.documents where case_id = ${id} or customer_id = ${id}`;
}

/** Asserts a refused upload stored nothing: the same rows for the customer, no new object. */
async function assertNothingStored(
  customerId: string,
  rowsBefore: { id: string }[],
  keysBefore: string[],
) {
  assert.deepEqual(
    (await rowsOf(customerId)).map((row) => row.id).sort(),
    rowsBefore.map((row) => row.id).sort(),
  );
  assert.deepEqual(await objectKeys(store), keysBefore);
}

let fixture: Promise<{ own: CaseFixture; own2: CaseFixture; other: CaseFixture }> | undefined;
const cases = () =>
  fixture ??= (async () => ({
    own: await createCase(agent),
    own2: await createCase(agent),
    other: await createCase(otherAgent),
  }))();

dbTest("documents: the functions use this file's object store", () => {
  assert.equal(config().STORAGE_S3_ENDPOINT, store.endpoint);
  assert.equal(config().vendors.s3.enabled, true);
  assert.equal(config().DOCUMENT_MAX_BYTES, maxBytes);
  return Promise.resolve();
});

dbTest("documents: an agent uploads a PDF to their case; row and object agree", async () => {
  const { own } = await cases();
  const token = await tokenFor(agent);
  const bytes = pdf(5_000);
  const document = await expectJson(
    await upload({
      token,
      fields: { kind: "policy_copy", case_id: own.caseId },
      file: { bytes, name: "Policy schedule (2026).pdf", type: "application/pdf" },
    }),
    201,
  );
  const [user] = await adminSql()`select id from auth.users where email = ${agent}`;
  const [expected] = await adminSql()`
    select (private.business_date(now()) + interval '8 years')::date::text as retain_until`;
  assert.equal(document.kind, "policy_copy");
  assert.equal(document.case_id, own.caseId);
  assert.equal(document.customer_id, own.customerId, "the case's customer");
  assert.equal(document.policy_id, own.policyId, "the case's policy");
  assert.equal(document.content_type, "application/pdf");
  assert.equal(document.size_bytes, 5_000);
  assert.equal(document.checksum_sha256, sha256(bytes));
  assert.equal(document.status, "stored");
  assert.equal(document.generated, false);
  assert.equal(document.uploaded_by, user.id);
  assert.equal(document.retain_until, expected.retain_until);
  assert.equal(document.file_name, "Policy schedule _2026_.pdf");
  assert.equal(
    document.object_key,
    `cases/${own.caseId}/${document.id}/policy_copy.pdf`,
    "keyed by its kind: the file name (which may name the person) is not in the key",
  );
  assert.equal(document.bucket, store.bucket);
  assert.ok(await objectExists(store, document.object_key));
  const stored = await Deno.readFile(
    `${store.dir}/${store.bucket}/${document.object_key}._S3rver_object`,
  );
  assert.deepEqual(stored, bytes);
  const [row] = await adminSql()`
    select size_bytes, checksum_sha256, uploaded_by from public.documents where id = ${document.id}`;
  assert.deepEqual({ ...row }, {
    size_bytes: "5000",
    checksum_sha256: sha256(bytes),
    uploaded_by: user.id,
  });
});

dbTest("documents: PNG, JPEG and WEBP are taken too, typed by their bytes", async () => {
  const { own2 } = await cases();
  const token = await tokenFor(agent);
  const files = [
    { bytes: png(), name: "photo.png", type: "image/png", want: "image/png" },
    // No declared type (octet-stream) and no extension: the bytes decide.
    { bytes: jpeg(), name: "scan", type: "application/octet-stream", want: "image/jpeg" },
    { bytes: webp(), name: "id-card.webp", type: "", want: "image/webp" },
  ];
  for (const { want, ...file } of files) {
    const document = await expectJson(
      await upload({ token, fields: { kind: "kyc", case_id: own2.caseId }, file }),
      201,
    );
    assert.equal(document.content_type, want, file.name);
    assert.ok(await objectExists(store, document.object_key), file.name);
  }
});

dbTest("documents: a customer's document without a case is keyed under the customer", async () => {
  const { own } = await cases();
  const token = await tokenFor(agent);
  const document = await expectJson(
    await upload({
      token,
      fields: { kind: "other", customer_id: own.customerId },
      file: { bytes: pdf(), name: "Lettre à l'assureur.pdf", type: "application/pdf" },
    }),
    201,
  );
  assert.equal(document.case_id, null);
  assert.equal(document.customer_id, own.customerId);
  assert.equal(document.retain_until, null, "other: no retention");
  assert.equal(document.file_name, "Lettre a l_assureur.pdf");
  assert.equal(document.object_key, `customers/${own.customerId}/${document.id}/other.pdf`);
  assert.ok(await objectExists(store, document.object_key));
});

dbTest("documents: the list filters by case, customer and kind, page by page", async () => {
  const { own, own2 } = await cases();
  const token = await tokenFor(agent);
  const second = await expectJson(
    await upload({
      token,
      fields: { kind: "endorsement", case_id: own.caseId },
      file: { bytes: pdf(), name: "endorsement.pdf" },
    }),
    201,
  );
  const all = await expectJson(await api(`/documents?case_id=${own.caseId}`, { token }), 200);
  assert.equal(all.data.length, 2);
  assert.equal(all.data[0].id, second.id, "newest first");
  assert.equal(all.next_cursor, null);

  const first = await expectJson(
    await api(`/documents?case_id=${own.caseId}&limit=1`, { token }),
    200,
  );
  assert.deepEqual(first.data.map((d: { id: string }) => d.id), [all.data[0].id]);
  assert.ok(first.next_cursor);
  const next = await expectJson(
    await api(`/documents?case_id=${own.caseId}&limit=1&cursor=${first.next_cursor}`, { token }),
    200,
  );
  assert.deepEqual(next.data.map((d: { id: string }) => d.id), [all.data[1].id]);
  assert.equal(next.next_cursor, null);

  const kyc = await expectJson(
    await api(`/documents?case_id=${own2.caseId}&kind=kyc`, { token }),
    200,
  );
  assert.equal(kyc.data.length, 3);
  const none = await expectJson(
    await api(`/documents?case_id=${own2.caseId}&kind=receipt`, { token }),
    200,
  );
  assert.deepEqual(none.data, []);
  // The customer's list holds the case's documents and the one without a case.
  const customer = await expectJson(
    await api(`/documents?customer_id=${own.customerId}`, { token }),
    200,
  );
  assert.equal(customer.data.length, 3);
  await expectProblem(await api(`/documents?cursor=not-a-cursor`, { token }), 422);
  await expectProblem(await api(`/documents?case_id=nope`, { token }), 422);
});

dbTest(
  "documents: the presigned URL downloads the same bytes under the file's name; edited, refused",
  async () => {
    const { own } = await cases();
    const token = await tokenFor(agent);
    const bytes = pdf(3_000);
    const document = await expectJson(
      await upload({
        token,
        fields: { kind: "policy_copy", case_id: own.caseId },
        file: { bytes, name: "copy.pdf" },
      }),
      201,
    );
    const before = Date.now();
    const signed = await expectJson(await api(`/documents/${document.id}/url`, { token }), 200);
    const expiresAt = Date.parse(signed.expires_at);
    assert.ok(
      expiresAt >= before + 299_000 && expiresAt <= Date.now() + 300_000,
      signed.expires_at,
    );
    const url = new URL(signed.url);
    assert.equal(url.origin, store.endpoint);
    assert.equal(url.searchParams.get("X-Amz-Expires"), "300");
    assert.equal(url.searchParams.get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    const response = await fetch(signed.url);
    assert.equal(response.status, 200);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
    assert.match(
      response.headers.get("content-disposition") ?? "",
      /^attachment; filename="copy.pdf"/,
    );
    // The signature covers the key, the expiry and the download name: change any of them, or drop
    // the signature, and the store refuses (as Storage's S3 endpoint does).
    const other = await expectJson(
      await upload({
        token,
        fields: { kind: "kyc", case_id: own.caseId },
        file: { bytes: pdf(), name: "other.pdf" },
      }),
      201,
    );
    const edits = [
      signed.url.replace(document.id, other.id).replace("copy.pdf", "other.pdf"),
      signed.url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
      signed.url.replace("copy.pdf%22", "evil.html%22"),
      `${url.origin}${url.pathname}`,
    ];
    for (const edited of edits) {
      assert.notEqual(edited, signed.url);
      const refused = await fetch(edited);
      const body = await refused.text();
      assert.equal(refused.status, 403, edited);
      assert.match(body, /<Code>(SignatureDoesNotMatch|AccessDenied)<\/Code>/);
    }
    // GET /documents/{id}: the same row.
    const got = await expectJson(await api(`/documents/${document.id}`, { token }), 200);
    assert.deepEqual(got, document);
  },
);

dbTest(
  "documents: another agent's document is a 404 for get and URL, and absent from lists",
  async () => {
    const { own, other } = await cases();
    const [document] = await adminSql()`
    select id from public.documents where case_id = ${own.caseId} limit 1`;
    assert.ok(document, "the agent's case has documents");
    const token = await tokenFor(otherAgent);
    for (const path of [`/documents/${document.id}`, `/documents/${document.id}/url`]) {
      const problem = await expectProblem(await api(path, { token }), 404);
      assert.equal(problem.detail, "No such document, or you may not see it.", path);
    }
    const list = await expectJson(await api(`/documents?case_id=${own.caseId}`, { token }), 200);
    assert.deepEqual(list.data, []);
    // Her own case's document is listed; his are not, among everything she may see.
    const hers = await expectJson(
      await upload({
        token,
        fields: { kind: "kyc", case_id: other.caseId },
        file: { bytes: pdf(), name: "hers.pdf" },
      }),
      201,
    );
    const seen: { id: string; case_id: string }[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page: { data: typeof seen; next_cursor: string | null } = await expectJson(
        await api(`/documents?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { token }),
        200,
      );
      seen.push(...page.data);
      cursor = page.next_cursor;
    }
    assert.ok(seen.some((d) => d.id === hers.id));
    assert.ok(!seen.some((d) => d.case_id === own.caseId));
    // An unknown id looks the same.
    await expectProblem(await api(`/documents/${crypto.randomUUID()}/url`, { token }), 404);
  },
);

dbTest(
  "documents: uploading to a case the caller cannot see is a 404; nothing stored",
  async () => {
    const { other } = await cases();
    const keys = await objectKeys(store);
    const rows = await rowsOf(other.customerId);
    const token = await tokenFor(agent);
    const problem = await expectProblem(
      await upload({
        token,
        fields: { kind: "kyc", case_id: other.caseId },
        file: { bytes: pdf(), name: "kyc.pdf" },
      }),
      404,
    );
    assert.equal(problem.detail, "No such case, or you may not see it.");
    await expectProblem(
      await upload({
        token,
        fields: { kind: "kyc", customer_id: other.customerId },
        file: { bytes: pdf(), name: "kyc.pdf" },
      }),
      404,
    );
    await expectProblem(
      await upload({
        token,
        fields: { kind: "kyc", case_id: crypto.randomUUID() },
        file: { bytes: pdf(), name: "kyc.pdf" },
      }),
      404,
    );
    await assertNothingStored(other.customerId, rows, keys);
  },
);

dbTest("documents: an oversize file is a 413; nothing stored", async () => {
  const { own2 } = await cases();
  const [{ count: rowsBefore }] = await adminSql()`
    select count(*)::int from public.documents where case_id = ${own2.caseId}`;
  const keys = await objectKeys(store);
  const token = await tokenFor(agent);
  // One byte over: refused once the form is read.
  const problem = await expectProblem(
    await upload({
      token,
      fields: { kind: "policy_copy", case_id: own2.caseId },
      file: { bytes: pdf(maxBytes + 1), name: "big.pdf" },
    }),
    413,
  );
  assert.equal(problem.max_bytes, maxBytes);
  // Far over: refused from Content-Length, before the body is read.
  await expectProblem(
    await upload({
      token,
      fields: { kind: "policy_copy", case_id: own2.caseId },
      file: { bytes: pdf(4 * maxBytes), name: "bigger.pdf" },
    }),
    413,
  );
  // Exactly the limit is taken (and removed again below, with the rest).
  const [{ count: rowsAfter }] = await adminSql()`
    select count(*)::int from public.documents where case_id = ${own2.caseId}`;
  assert.equal(rowsAfter, rowsBefore);
  assert.deepEqual(await objectKeys(store), keys);
  await expectJson(
    await upload({
      token,
      fields: { kind: "other", case_id: own2.caseId },
      file: { bytes: pdf(maxBytes), name: "limit.pdf" },
    }),
    201,
  );
});

dbTest("documents: a disguised or unknown file is a 415; nothing stored", async () => {
  const { own } = await cases();
  const customer = own.customerId;
  const [{ count: rowsBefore }] = await adminSql()`
    select count(*)::int from public.documents where customer_id = ${customer}`;
  const keys = await objectKeys(store);
  const token = await tokenFor(agent);
  const disguises = [
    // PNG bytes named and declared a PDF.
    { bytes: png(), name: "policy.pdf", type: "application/pdf" },
    // PNG bytes declared as PNG but named .pdf.
    { bytes: png(), name: "policy.pdf", type: "image/png" },
    // A PDF declared an image.
    { bytes: pdf(), name: "scan", type: "image/jpeg" },
    // An executable named and declared a PDF.
    { bytes: exe(), name: "receipt.pdf", type: "application/pdf" },
    // An executable with no name or type to go by.
    { bytes: exe(), name: "blob", type: "" },
    // HTML, which a browser would run from our storage's origin.
    {
      bytes: bytesOf("<html><script>alert(1)</script>", 40),
      name: "a.html",
      type: "text/html",
    },
    // A PDF named .exe.
    { bytes: pdf(), name: "setup.exe", type: "application/octet-stream" },
  ];
  for (const file of disguises) {
    const problem = await expectProblem(
      await upload({ token, fields: { kind: "kyc", customer_id: customer }, file }),
      415,
    );
    assert.deepEqual(problem.accepted, [
      "application/pdf",
      "image/png",
      "image/jpeg",
      "image/webp",
    ]);
  }
  const [{ count: rowsAfter }] = await adminSql()`
    select count(*)::int from public.documents where customer_id = ${customer}`;
  assert.equal(rowsAfter, rowsBefore);
  assert.deepEqual(await objectKeys(store), keys);
});

dbTest("documents: a bad form is a 422, a body not a form a 415; nothing stored", async () => {
  const { own } = await cases();
  const keys = await objectKeys(store);
  const [{ count: rowsBefore }] = await adminSql()`
    select count(*)::int from public.documents where customer_id = ${own.customerId}`;
  const token = await tokenFor(agent);
  const file = { bytes: pdf(), name: "a.pdf" };
  const forms: Upload[] = [
    { token, fields: { kind: "kyc", case_id: own.caseId } }, // no file
    { token, fields: { kind: "passport", case_id: own.caseId }, file }, // no such kind
    { token, fields: { kind: "kyc" }, file }, // neither case nor customer
    { token, fields: { kind: "kyc", case_id: own.caseId, customer_id: own.customerId }, file },
    { token, fields: { kind: "kyc", case_id: "not-a-uuid" }, file },
  ];
  for (const form of forms) await expectProblem(await upload(form), 422);
  // A JSON body is not a form.
  const json = await expectProblem(
    await api("/documents", { token, method: "POST", body: { kind: "kyc", case_id: own.caseId } }),
    415,
  );
  assert.match(json.detail, /multipart\/form-data/);
  const [{ count: rowsAfter }] = await adminSql()`
    select count(*)::int from public.documents where customer_id = ${own.customerId}`;
  assert.equal(rowsAfter, rowsBefore);
  assert.deepEqual(await objectKeys(store), keys);
});

dbTest(
  "documents: when the database refuses the record, the stored object is deleted",
  async () => {
    const { own, own2 } = await cases();
    const keys = await objectKeys(store);
    const [{ count: rowsBefore }] = await adminSql()`
    select count(*)::int from public.documents where case_id = ${own.caseId}`;
    const token = await tokenFor(agent);
    // Both cases are the agent's, but this policy is not the case's: record_document refuses
    // (22023) after the bytes were stored.
    const problem = await expectProblem(
      await upload({
        token,
        fields: { kind: "policy_copy", case_id: own.caseId, policy_id: own2.policyId },
        file: { bytes: pdf(), name: "wrong-policy.pdf" },
      }),
      422,
    );
    assert.match(problem.detail, /not the policy of its case/);
    const [{ count: rowsAfter }] = await adminSql()`
    select count(*)::int from public.documents where case_id = ${own.caseId}`;
    assert.equal(rowsAfter, rowsBefore);
    assert.deepEqual(await objectKeys(store), keys);
  },
);

dbTest("documents: a pending generated document has no URL yet (409)", async () => {
  const { own2 } = await cases();
  const [{ id }] = await adminSql()`
    select private.ensure_generated_document('renewal_notice', ${own2.caseId}::uuid) as id`;
  const token = await tokenFor(agent);
  const got = await expectJson(await api(`/documents/${id}`, { token }), 200);
  assert.equal(got.status, "pending");
  assert.equal(got.size_bytes, null);
  await expectProblem(await api(`/documents/${id}/url`, { token }), 409);
});

dbTest("documents: admins delete a document and its object; nobody else", async () => {
  const { own } = await cases();
  const document = await expectJson(
    await upload({
      token: await tokenFor(agent),
      fields: { kind: "other", case_id: own.caseId },
      file: { bytes: pdf(), name: "draft.pdf" },
    }),
    201,
  );
  for (const email of [agent, "cp.manager@py360.test", analyst]) {
    const problem = await expectProblem(
      await api(`/documents/${document.id}`, { token: await tokenFor(email), method: "DELETE" }),
      403,
    );
    assert.equal(problem.detail, "Only admins delete documents.", email);
  }
  await expectProblem(await api(`/documents/${document.id}`, { method: "DELETE" }), 401);
  assert.ok(await objectExists(store, document.object_key));
  assert.equal((await rowsOf(own.caseId)).some((r) => r.id === document.id), true);

  const token = await tokenFor(admin);
  const response = await api(`/documents/${document.id}`, { token, method: "DELETE" });
  assert.equal(response.status, 204);
  assert.equal((await rowsOf(own.caseId)).some((r) => r.id === document.id), false);
  assert.equal(await objectExists(store, document.object_key), false);
  await expectProblem(await api(`/documents/${document.id}`, { token, method: "DELETE" }), 404);
});

dbTest("documents: under legal retention or hold a document cannot be deleted (409)", async () => {
  const { own } = await cases();
  const token = await tokenFor(admin);
  const agentToken = await tokenFor(agent);
  const retained = await expectJson(
    await upload({
      token: agentToken,
      fields: { kind: "policy_copy", case_id: own.caseId },
      file: { bytes: pdf(), name: "retained.pdf" },
    }),
    201,
  );
  assert.ok(retained.retain_until);
  const problem = await expectProblem(
    await api(`/documents/${retained.id}`, { token, method: "DELETE" }),
    409,
  );
  assert.match(problem.detail, /under legal retention until/);

  const held = await expectJson(
    await upload({
      token: agentToken,
      fields: { kind: "other", case_id: own.caseId },
      file: { bytes: pdf(), name: "held.pdf" },
    }),
    201,
  );
  await adminSql()`update public.documents set legal_hold = true where id = ${held.id}`;
  const holdProblem = await expectProblem(
    await api(`/documents/${held.id}`, { token, method: "DELETE" }),
    409,
  );
  assert.match(holdProblem.detail, /under legal hold/);

  const ids = (await rowsOf(own.caseId)).map((r) => r.id);
  for (const document of [retained, held]) {
    assert.ok(ids.includes(document.id), "the row is still there");
    assert.ok(await objectExists(store, document.object_key), "and so is its object");
  }
});

dbTest("documents: analysts and callers without a user token are refused", async () => {
  const { own } = await cases();
  const [document] = await adminSql()`
    select id from public.documents where case_id = ${own.caseId} limit 1`;
  const keys = await objectKeys(store);
  const token = await tokenFor(analyst);
  for (const path of ["/documents", `/documents/${document.id}`, `/documents/${document.id}/url`]) {
    const problem = await expectProblem(await api(path, { token }), 403);
    assert.equal(problem.detail, "Documents are for the desk: admins, managers and agents.");
  }
  await expectProblem(
    await upload({
      token,
      fields: { kind: "kyc", case_id: own.caseId },
      file: { bytes: pdf(), name: "a.pdf" },
    }),
    403,
  );
  const keysApi = await localApiKeys();
  for (const bearer of [undefined, keysApi.anon, keysApi.serviceRole]) {
    for (const path of ["/documents", `/documents/${document.id}/url`]) {
      await expectProblem(await api(path, { token: bearer }), 401);
    }
    await expectProblem(
      await upload({
        token: bearer,
        fields: { kind: "kyc", case_id: own.caseId },
        file: { bytes: pdf(), name: "a.pdf" },
      }),
      401,
    );
  }
  assert.deepEqual(await objectKeys(store), keys);
});

dbTest("documents: managers see their team's documents", async () => {
  const { own, other } = await cases();
  const manager = await tokenFor("cp.manager@py360.test");
  const mine = await expectJson(
    await api(`/documents?case_id=${own.caseId}`, { token: manager }),
    200,
  );
  assert.ok(mine.data.length > 0);
  const [document] = mine.data;
  const signed = await expectJson(
    await api(`/documents/${document.id}/url`, { token: manager }),
    200,
  );
  assert.equal((await fetch(signed.url)).status, 200);
  const theirs = await expectJson(
    await api(`/documents?case_id=${other.caseId}`, { token: manager }),
    200,
  );
  assert.deepEqual(theirs.data, []);
});

dbTest("documents: clean up (rows past their retention guard, the store)", async () => {
  const { own, own2, other } = await cases();
  await adminSql().begin(async (tx) => {
    // The retention guard refuses every role, the superuser too: this test's own rows go
    // without triggers.
    await tx`set local session_replication_role = replica`;
    await tx`delete from public.documents
              where customer_id in ${tx([own.customerId, own2.customerId, other.customerId])}`;
  });
  Deno.env.delete("DOCUMENT_MAX_BYTES");
  await store.close();
});
