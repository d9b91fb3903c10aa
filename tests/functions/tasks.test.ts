// /api/tasks: an agent's call tasks as the cadence opens them, seen by the assignee and their
// managers, closed or snoozed by the assignee and by the manager it is escalated to (nobody
// else); a done task stays done; a snoozed one is listed open again once its snooze is over.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
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
  await expectProblem(
    await patch(farah, {
      status: "snoozed",
      snoozed_until: new Date(Date.now() + 31 * 86_400_000).toISOString(),
    }),
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

dbTest("tasks: a snoozed task is listed open again once its snooze is over", async () => {
  const { taskId } = await task();
  const token = await tokenFor(farah);
  const listed = async (status: string) =>
    (await expectJson(await api(`/tasks?status=${status}&limit=200`, { token }), 200)).data
      .map((t: { id: string }) => t.id);
  const until = new Date(Date.now() + 3 * 3600_000);
  await expectJson(
    await api(`/tasks/${taskId}`, {
      token,
      method: "PATCH",
      body: { status: "snoozed", snoozed_until: until.toISOString() },
    }),
    200,
  );
  assert.ok(!(await listed("open")).includes(taskId), "snoozed: not among the open tasks");
  assert.ok((await listed("snoozed")).includes(taskId), "but among the snoozed");

  // pg_cron's job, a minute before the snooze ends, then once it has.
  const wake = async (at: Date) => {
    const [{ woken }] = await adminSql()`select private.wake_snoozed_tasks(${at}) as woken`;
    return woken;
  };
  await wake(new Date(until.getTime() - 60_000));
  assert.ok((await listed("snoozed")).includes(taskId), "still snoozed before its end");
  assert.ok(await wake(until) >= 1, "the job wakes it when its snooze ends");
  assert.ok((await listed("open")).includes(taskId), "listed open again");
  assert.ok(!(await listed("snoozed")).includes(taskId), "and no longer snoozed");
  const [mine] = (await expectJson(await api("/tasks?limit=200", { token }), 200)).data
    .filter((t: { id: string }) => t.id === taskId);
  assert.equal(mine.status, "open");
  assert.equal(mine.snoozed_until, null);
  assert.equal(await wake(until), 0, "a second run wakes nothing");
});

dbTest(
  "tasks: the manager a task is escalated to snoozes and closes it; nobody else may",
  async () => {
    const { taskId } = await task();
    // Escalated twice, as the job does it (Farah's branch manager, then the region's): Deepak holds it.
    await adminSql()`
    update public.tasks
       set escalation_level = 2,
           escalated_to = (select id from public.profiles where email = 'delhi.manager@py360.test'),
           escalated_at = now(),
           sla_due_at = now() + interval '48 hours'
     where id = ${taskId}`;
    const holder = "delhi.manager@py360.test";
    const patch = async (email: string, body: unknown) =>
      api(`/tasks/${taskId}`, { token: await tokenFor(email), method: "PATCH", body });
    const later = new Date(Date.now() + 3 * 3600_000).toISOString();
    const before = await snapshot("tasks", taskId);
    for (
      const outsider of [
        "cp.manager@py360.test", // it passed through her; she still sees it
        "north.manager@py360.test", // above the holder; sees it
        "ggn.manager@py360.test", // another branch
        "blr.manager@py360.test", // another zone
        "arjun.agent@py360.test", // Farah's branch
        "analyst@py360.test",
        "admin@py360.test",
      ]
    ) {
      const problem = await expectProblem(
        await patch(outsider, { status: "done", outcome: "Called her" }),
        404,
      );
      assert.equal(problem.title, "Not Found", outsider);
    }
    assert.deepEqual(
      await snapshot("tasks", taskId),
      before,
      "the outsiders changed nothing",
    );

    const snoozed = await expectJson(
      await patch(holder, { status: "snoozed", snoozed_until: later }),
      200,
    );
    assert.equal(snoozed.status, "snoozed");
    assert.equal(new Date(snoozed.snoozed_until).toISOString(), later);
    assert.equal(snoozed.escalation_level, 2, "the escalation stays as the job left it");
    assert.equal(
      new Date(snoozed.sla_due_at).getTime(),
      new Date(before.sla_due_at as Date).getTime(),
      "snoozing does not stop the SLA",
    );
    // The assignee still may (to another time: the audit log skips a change that changes nothing).
    const later2 = new Date(Date.now() + 5 * 3600_000).toISOString();
    await expectJson(await patch(farah, { status: "snoozed", snoozed_until: later2 }), 200);
    const done = await expectJson(
      await patch(holder, { status: "done", outcome: "Spoke to the customer: renewing today" }),
      200,
    );
    assert.equal(done.status, "done");
    assert.equal(done.outcome, "Spoke to the customer: renewing today");
    assert.ok(done.done_at);
    await expectProblem(await patch(holder, { status: "snoozed", snoozed_until: later }), 422);
    await expectProblem(await patch(farah, { status: "done", outcome: "Another story" }), 422);
    const actors = await adminSql()`
    select p.email, a.new_row ->> 'status' as status
      from public.audit_log a join public.profiles p on p.id = a.actor_id
     where a.table_name = 'tasks' and a.action = 'update' and a.row_id = ${taskId}
     order by a.id`;
    assert.deepEqual(actors.map((a) => `${a.email} ${a.status}`), [
      `${holder} snoozed`,
      `${farah} snoozed`,
      `${holder} done`,
    ], "the audit log says who did what");
  },
);
