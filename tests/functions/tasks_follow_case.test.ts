// Tasks and their case (issue 9 review), through GET /api/tasks and PATCH /api/tasks/{id}: a
// second "done" cannot rewrite a done task's outcome (422; it was 200 and rewrote it), and a
// task follows its case to the new agent's list (it used to vanish from every list: the old
// assignee no longer sees the case, and the new one was not the task's).
import assert from "node:assert/strict";
import { adminSql, api, createCase, dbTest, expectJson, tokenFor } from "./_helpers.ts";

const farah = "farah.agent@py360.test";
const arjun = "arjun.agent@py360.test";

async function call(email: string, path: string, method = "GET", body?: unknown) {
  return api(path, { token: await tokenFor(email), method, body });
}

async function openTask(agentEmail: string): Promise<{ taskId: string; caseId: string }> {
  const fixture = await createCase(agentEmail);
  const [row] = await adminSql()`
    insert into public.tasks (case_id, assignee_id, kind, due_at, sla_hours, sla_due_at)
    select c.id, c.assignee_id, 'call', now(), 48, now() + interval '48 hours'
      from public.renewal_cases c where c.id = ${fixture.caseId}
    returning id`;
  return { taskId: row.id, caseId: fixture.caseId };
}

dbTest("tasks: a second done cannot rewrite a done task's outcome", async () => {
  const { taskId } = await openTask(farah);
  const first = await expectJson(
    await call(farah, `/tasks/${taskId}`, "PATCH", {
      status: "done",
      outcome: "Customer paid by cheque",
    }),
    200,
  );
  assert.equal(first.status, "done");
  const second = await call(farah, `/tasks/${taskId}`, "PATCH", {
    status: "done",
    outcome: "Never reached the customer",
  });
  const [row] = await adminSql()`select outcome from public.tasks where id = ${taskId}`;
  assert.equal(row.outcome, "Customer paid by cheque", "the recorded outcome stays");
  assert.equal(second.status, 422, "a task already done is 422, as the route documents");
});

dbTest("tasks: a task follows its case to the new agent's list", async () => {
  const { taskId, caseId } = await openTask(farah);
  const listed = (email: string, scope = "mine") =>
    call(email, `/tasks?scope=${scope}&limit=200`).then((r) => expectJson(r, 200));
  assert.ok(
    (await listed(farah)).data.some((t: { id: string }) => t.id === taskId),
    "Farah lists her task",
  );
  // The branch hands the case to Arjun (same branch).
  await adminSql()`
    update public.renewal_cases
       set assignee_id = (select id from public.profiles where email = ${arjun})
     where id = ${caseId}`;
  const arjunSees = (await listed(arjun)).data.some((t: { id: string }) => t.id === taskId) ||
    (await listed(arjun, "team")).data.some((t: { id: string }) => t.id === taskId);
  const farahSees = (await listed(farah)).data.some((t: { id: string }) => t.id === taskId);
  assert.ok(
    arjunSees || farahSees,
    `someone among the agents still lists the open call task (Arjun: ${arjunSees}, Farah: ${farahSees})`,
  );
});
