// /api/tasks: an agent's call tasks as the cadence opens them, seen by the assignee and their
// managers, closed or snoozed only by the assignee; a done task stays done.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";

const farah = "farah.agent@py360.test";

/** A call task on a fresh case of Farah's, due now with a 48-hour SLA. */
async function task() {
  const { caseId } = await createCase(farah);
  const [row] = await adminSql()`
    insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
    select id, assignee_id, now(), 48, now() + interval '48 hours'
      from public.renewal_cases where id = ${caseId}
    returning id`;
  return { caseId, taskId: row.id as string };
}

dbTest("tasks: the assignee and their manager see the task; another agent does not", async () => {
  const { taskId, caseId } = await task();
  const ids = async (email: string, scope = "mine") =>
    (await expectJson(
      await api(`/tasks?scope=${scope}&limit=200`, {
        token: await tokenFor(email),
      }),
      200,
    )).data.map((t: { id: string }) => t.id);
  const mine = await expectJson(
    await api("/tasks?limit=200", { token: await tokenFor(farah) }),
    200,
  );
  const found = mine.data.find((t: { id: string }) => t.id === taskId);
  assert.ok(found, "the assignee sees it");
  assert.equal(found.case_id, caseId);
  assert.equal(found.status, "open");
  assert.ok(found.customer_name.startsWith("Test Customer "));
  assert.ok((await ids("cp.manager@py360.test", "team")).includes(taskId), "the manager, as team");
  assert.ok(!(await ids("cp.manager@py360.test")).includes(taskId), "not the manager's own");
  assert.ok(!(await ids("gopal.agent@py360.test", "team")).includes(taskId), "not another agent");
  await expectProblem(await api("/tasks?scope=everyone", { token: await tokenFor(farah) }), 422);
});

dbTest("tasks: the assignee snoozes and closes it; nobody else may; done stays done", async () => {
  const { taskId } = await task();
  const patch = async (email: string, body: unknown) =>
    api(`/tasks/${taskId}`, { token: await tokenFor(email), method: "PATCH", body });
  const later = new Date(Date.now() + 3 * 3600_000).toISOString();
  await expectProblem(
    await patch("gopal.agent@py360.test", { status: "snoozed", snoozed_until: later }),
    404,
  );
  await expectProblem(
    await patch("cp.manager@py360.test", { status: "done", outcome: "Called her" }),
    404,
  );
  await expectProblem(
    await patch(farah, { status: "snoozed", snoozed_until: "2020-01-01T00:00:00Z" }),
    422,
  );
  await expectProblem(await patch(farah, { status: "done" }), 422);
  const snoozed = await expectJson(
    await patch(farah, { status: "snoozed", snoozed_until: later }),
    200,
  );
  assert.equal(snoozed.status, "snoozed");
  assert.equal(new Date(snoozed.snoozed_until).toISOString(), later);
  const done = await expectJson(
    await patch(farah, { status: "done", outcome: "Customer will pay by Friday" }),
    200,
  );
  assert.equal(done.status, "done");
  assert.equal(done.outcome, "Customer will pay by Friday");
  assert.equal(done.snoozed_until, null);
  assert.ok(done.done_at);
  await expectProblem(await patch(farah, { status: "snoozed", snoozed_until: later }), 422);
  const [row] = await adminSql()`select status from public.tasks where id = ${taskId}`;
  assert.equal(row.status, "done");
});
