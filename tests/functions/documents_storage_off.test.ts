// Without STORAGE_S3_ENDPOINT and its keys the documents that need the store answer 503 naming
// the missing variables, before anything is read or stored; what needs only the database (the
// list) still answers.
import assert from "node:assert/strict";
import app from "../../functions/api/app.ts";
import { config } from "../../functions/_shared/config.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";

const agent = "arjun.agent@py360.test";

dbTest(
  "documents: storage not configured is a 503 naming what is missing; nothing stored",
  async () => {
    assert.equal(config().STORAGE_S3_ENDPOINT, undefined);
    assert.deepEqual(config().vendors.s3, {
      enabled: false,
      reason:
        "disabled: set STORAGE_S3_ENDPOINT, STORAGE_S3_ACCESS_KEY_ID, STORAGE_S3_SECRET_ACCESS_KEY",
    });
    const { caseId } = await createCase(agent);
    const token = await tokenFor(agent);
    const form = new FormData();
    form.set("kind", "kyc");
    form.set("case_id", caseId);
    form.set("file", new File([new TextEncoder().encode("%PDF-1.7\n")], "a.pdf"));
    const problem = await expectProblem(
      await app.request("/api/documents", {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: form,
      }),
      503,
    );
    assert.match(problem.detail, /STORAGE_S3_ENDPOINT, STORAGE_S3_ACCESS_KEY_ID/);
    const [{ count }] = await adminSql()`
    select count(*)::int from public.documents where case_id = ${caseId}`;
    assert.equal(count, 0);
    const [{ id }] = await adminSql()`
    select private.ensure_generated_document('renewal_notice', ${caseId}::uuid) as id`;
    await adminSql()`update public.documents set status = 'stored', size_bytes = 1,
                          checksum_sha256 = repeat('a', 64), stored_at = now() where id = ${id}`;
    await expectProblem(await api(`/documents/${id}/url`, { token }), 503);
    const list = await expectJson(await api(`/documents?case_id=${caseId}`, { token }), 200);
    assert.deepEqual(list.data.map((d: { id: string }) => d.id), [id]);
    await adminSql().begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`delete from public.documents where id = ${id}`;
    });
  },
);
