// A generated document's short link (GET /go/d/{token}) expires DOCUMENT_LINK_DAYS (30) days after
// it is drawn, against a local S3 endpoint of its own: while it lasts it redirects (302) to a
// presigned GET of the PDF; past its link_expires_at it is the go function's usual 404, the same
// answer as an unknown token, and the PDF stays reachable for the desk through the API.
import assert from "node:assert/strict";
import { ensureDocument } from "../../functions/_shared/documents/ensure.ts";
import app from "../../functions/go/app.ts";
import { useObjectStore } from "./_object_store.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";

const store = await useObjectStore();
const agent = "farah.agent@py360.test";
const browser = { headers: { "user-agent": "Mozilla/5.0" } };

/** How many days from now the document's link works, rounded to the day. */
async function linkDays(id: string): Promise<number> {
  const [row] = await adminSql()`
    select round(extract(epoch from link_expires_at - now()) / 86400)::int as days
      from public.documents where id = ${id}`;
  return row.days;
}

dbTest("go: a document link works 30 days, then answers 404", async () => {
  const { caseId } = await createCase(agent);
  const [notice] = await adminSql()`
    select r.id, r.link_token from private.register_generated_document('renewal_notice', ${caseId}) r`;
  assert.equal(await linkDays(notice.id), 30, "drawn for 30 days");
  await ensureDocument(notice.id);

  const fresh = await app.request(`/go/d/${notice.link_token}`, browser);
  assert.equal(fresh.status, 302);
  const pdf = await fetch(fresh.headers.get("location")!);
  assert.equal(pdf.status, 200);
  await pdf.body?.cancel();

  // Its days are over (a link drawn 31 days ago).
  await adminSql()`
    update public.documents set link_expires_at = now() - interval '1 day' where id = ${notice.id}`;
  const expired = await expectProblem(
    await app.request(`/go/d/${notice.link_token}`, browser),
    404,
  );
  const unknown = await expectProblem(await app.request(`/go/d/${"x".repeat(22)}`, browser), 404);
  assert.equal(expired.detail, unknown.detail, "the same answer as an unknown token");

  // The desk still reaches the document.
  const url = await expectJson(
    await api(`/documents/${notice.id}/url`, { token: await tokenFor(agent) }),
    200,
  );
  assert.match(url.url, /^http/);
});

dbTest("go: DOCUMENT_LINK_DAYS sets how long a link drawn afterwards works", async () => {
  const { caseId } = await createCase(agent);
  await adminSql()`update public.app_settings set value = '7' where key = 'DOCUMENT_LINK_DAYS'`;
  try {
    const [notice] = await adminSql()`
      select r.id from private.register_generated_document('renewal_notice', ${caseId}) r`;
    assert.equal(await linkDays(notice.id), 7);
  } finally {
    await adminSql()`update public.app_settings set value = '30' where key = 'DOCUMENT_LINK_DAYS'`;
  }
});

dbTest("go: close the object store", async () => {
  await store.close();
});
