// The object store down (configured, not answering): an upload is a 503 and records nothing;
// the list, which needs only the database, still answers.
import assert from "node:assert/strict";
import app from "../../functions/api/app.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";
import { startObjectStore } from "../../scripts/lib/object_store.ts";

// A store started and stopped: its address is configured but nothing listens there any more.
const store = await startObjectStore({ bucket: "documents" });
for (const [name, value] of Object.entries(store.env)) Deno.env.set(name, value);
await store.close();
const agent = "arjun.agent@py360.test";

dbTest("documents: a store that does not answer is a 503; nothing recorded", async () => {
  try {
    const { caseId } = await createCase(agent);
    const token = await tokenFor(agent);
    const form = new FormData();
    form.set("kind", "kyc");
    form.set("case_id", caseId);
    form.set("file", new File([new TextEncoder().encode("%PDF-1.7\n%%EOF\n")], "kyc.pdf"));
    const problem = await expectProblem(
      await app.request("/api/documents", {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: form,
      }),
      503,
    );
    assert.equal(problem.detail, "Document storage did not answer; nothing was stored. Try again.");
    const [{ count }] = await adminSql()`
      select count(*)::int from public.documents where case_id = ${caseId}`;
    assert.equal(count, 0);
    const list = await expectJson(await api(`/documents?case_id=${caseId}`, { token }), 200);
    assert.deepEqual(list.data, []);
  } finally {
    for (const name of Object.keys(store.env)) Deno.env.delete(name);
  }
});
