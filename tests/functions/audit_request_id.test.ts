// The audit log names the API request behind each change (issue 13): the functions set
// `request.id` in every transaction from Hono's request id, so an audit row carries the caller's
// user id and the X-Request-Id the response answered; a caller's own X-Request-Id is kept, a
// malformed one replaced; and no request id leaks into work done outside a request.
import assert from "node:assert/strict";
import { asService, asServiceInOneTrip } from "../../functions/_shared/db.ts";
import { withRequestId } from "../../functions/_shared/request_context.ts";
import { adminSql, api, createCase, dbTest, expectJson, tokenFor } from "./_helpers.ts";

const arjun = "arjun.agent@py360.test"; // DEL_CP_MOTOR
const arjunId = "20000000-0000-4000-8000-000000000011";

/** The audit rows of one row since audit id `after`, oldest first. */
async function auditOf(rowId: string, after: number) {
  return await adminSql()`
    select action, actor_id, actor_role, request_id, new_row ->> 'stage' as stage,
           new_row ->> 'priority' as priority
      from public.audit_log
     where row_id = ${rowId} and id > ${after}
     order by id`;
}

async function lastAuditId(): Promise<number> {
  const [row] = await adminSql()`select coalesce(max(id), 0)::int as id from public.audit_log`;
  return row.id;
}

dbTest("audit: a PATCH writes audit rows with the caller and the request id answered", async () => {
  const { caseId } = await createCase(arjun);
  const after = await lastAuditId();
  const response = await api(`/cases/${caseId}`, {
    token: await tokenFor(arjun),
    method: "PATCH",
    body: { stage: "contacted", priority: "high" },
  });
  await expectJson(response, 200);
  const requestId = response.headers.get("x-request-id");
  assert.match(requestId ?? "", /^[0-9a-f-]{36}$/, "a generated request id is answered");
  const rows = await auditOf(caseId, after);
  assert.deepEqual(rows.map((row) => ({ ...row })), [{
    action: "update",
    actor_id: arjunId,
    actor_role: "authenticated",
    request_id: requestId,
    stage: "contacted",
    priority: "high",
  }]);
});

dbTest("audit: the caller's own X-Request-Id is kept; a malformed one is replaced", async () => {
  const { caseId } = await createCase(arjun);
  const token = await tokenFor(arjun);
  const mine = `grievance-${crypto.randomUUID()}`;
  const after = await lastAuditId();
  const first = await api(`/cases/${caseId}`, {
    token,
    method: "PATCH",
    body: { priority: "urgent" },
    headers: { "x-request-id": mine },
  });
  await expectJson(first, 200);
  assert.equal(first.headers.get("x-request-id"), mine);

  const second = await api(`/cases/${caseId}`, {
    token,
    method: "PATCH",
    body: { priority: "low" },
    headers: { "x-request-id": "x'); drop table audit_log; --" },
  });
  await expectJson(second, 200);
  const replaced = second.headers.get("x-request-id");
  assert.match(replaced ?? "", /^[0-9a-f-]{36}$/);

  const rows = await auditOf(caseId, after);
  assert.deepEqual(rows.map((row) => [row.priority, row.request_id]), [
    ["urgent", mine],
    ["low", replaced],
  ]);
});

dbTest("audit: a refused request writes no audit row", async () => {
  const { caseId } = await createCase(arjun, { stage: "quoted" });
  const after = await lastAuditId();
  const response = await api(`/cases/${caseId}`, {
    token: await tokenFor(arjun),
    method: "PATCH",
    body: { stage: "contacted", priority: "urgent" },
  });
  assert.equal(response.status, 409);
  await response.body?.cancel();
  assert.equal((await auditOf(caseId, after)).length, 0);
});

dbTest(
  "audit: work outside a request records no request id; inside withRequestId, that id",
  async () => {
    const { caseId } = await createCase(arjun);
    const after = await lastAuditId();
    await asService((tx) =>
      tx`update public.renewal_cases set priority = 'high' where id = ${caseId}`
    );
    await withRequestId(
      "job-run-7",
      () =>
        asService((tx) =>
          tx`update public.renewal_cases set priority = 'low' where id = ${caseId}`
        ),
    );
    await withRequestId(
      "job-run-8",
      () =>
        asServiceInOneTrip`update public.renewal_cases set priority = 'urgent' where id = ${caseId}`,
    );
    await asServiceInOneTrip`update public.renewal_cases set priority = 'normal' where id = ${caseId}`;
    const rows = await auditOf(caseId, after);
    assert.deepEqual(rows.map((row) => [row.priority, row.actor_role, row.request_id]), [
      ["high", "service_role", null],
      ["low", "service_role", "job-run-7"],
      ["urgent", "service_role", "job-run-8"],
      ["normal", "service_role", null],
    ]);
  },
);
