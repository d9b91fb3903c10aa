// A document's presigned URL stops working after its expiry: with DOCUMENT_URL_TTL_SECONDS at 2,
// the URL the API signs downloads the bytes at once and is refused by the S3 endpoint (403
// AccessDenied, "Request has expired") once its time has passed; a fresh URL works again. This
// is behaviour, not timing: the wait is well past the expiry, and nothing is measured.
import assert from "node:assert/strict";
import app from "../../functions/api/app.ts";
import { adminSql, api, createCase, dbTest, expectJson, tokenFor } from "./_helpers.ts";
import { useObjectStore } from "./_object_store.ts";

Deno.env.set("DOCUMENT_URL_TTL_SECONDS", "2");
const store = await useObjectStore();
const agent = "arjun.agent@py360.test";

dbTest("documents: a presigned URL stops working after its expiry", async () => {
  const { caseId, customerId } = await createCase(agent);
  const token = await tokenFor(agent);
  const bytes = new TextEncoder().encode(`%PDF-1.7\nexpiry test ${crypto.randomUUID()}\n%%EOF\n`);
  const form = new FormData();
  form.set("kind", "other");
  form.set("case_id", caseId);
  form.set("file", new File([bytes], "expiry.pdf", { type: "application/pdf" }));
  const document = await expectJson(
    await app.request("/api/documents", {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: form,
    }),
    201,
  );
  try {
    const signed = await expectJson(await api(`/documents/${document.id}/url`, { token }), 200);
    assert.equal(new URL(signed.url).searchParams.get("X-Amz-Expires"), "2");
    const fresh = await fetch(signed.url);
    assert.equal(fresh.status, 200);
    assert.deepEqual(new Uint8Array(await fresh.arrayBuffer()), bytes);

    // Wait until well past expires_at (the signature's clock has whole seconds).
    const wait = Date.parse(signed.expires_at) - Date.now() + 1_500;
    await new Promise((resolve) => setTimeout(resolve, Math.max(wait, 0)));
    const expired = await fetch(signed.url);
    const body = await expired.text();
    assert.equal(expired.status, 403, body);
    assert.match(body, /<Code>AccessDenied<\/Code>/);
    assert.match(body, /Request has expired/);

    const again = await expectJson(await api(`/documents/${document.id}/url`, { token }), 200);
    const renewed = await fetch(again.url);
    assert.equal(renewed.status, 200);
    await renewed.body?.cancel();
  } finally {
    // An 'other' document has no retention: the row goes; the store goes with its folder.
    await adminSql()`delete from public.documents where customer_id = ${customerId}`;
    Deno.env.delete("DOCUMENT_URL_TTL_SECONDS");
    await store.close();
  }
});
