// The cadence against desk writes to the cases it visits (issue 9's fourth and fifth reviews,
// migrations 20261201081235 and 20261201082435): a write that closes a case or hands it to another
// agent while the cadence opens its call task waits for the run, then closes or moves the task; a
// write that came first is waited for and read (no task for a lost case, the new agent's task,
// a reminder naming the case's new date). Two real connections, each holding its transaction open.
import assert from "node:assert/strict";
import postgres from "postgres";
import { adminSql, createCase, dbTest } from "./_helpers.ts";
import { firstThenSecond, namedConnection } from "./_concurrency.ts";

const arjun = "arjun.agent@py360.test";
const gopal = "gopal.agent@py360.test";

/**
 * A motor case of arjun's worth a call (premium ₹90,000), due in 15 days (the ladder's call
 * step), made the only case the next cadence run visits: the run's state says it already ran
 * today on this ladder, and only this case has a visit due (the database's other cases are left
 * alone).
 */
async function caseWorthACall(): Promise<string> {
  const sql = adminSql();
  const { caseId } = await createCase(arjun, { premium: 9000000, dueInDays: 15 });
  await sql`
    insert into private.cadence_state as s (last_day, latest_day, fingerprint)
    select x.d, x.d, md5(concat_ws('|',
             (select string_agg(r::text, ';' order by r.id) from public.reminder_rules r),
             private.setting('NCB_RETENTION_DAYS')::text,
             private.setting('CALL_TASK_MIN_PREMIUM_PAISE')::text))
      from (select private.business_date(now()) as d) x
    on conflict (id) do update
      set last_day = excluded.last_day, latest_day = excluded.latest_day,
          fingerprint = excluded.fingerprint`;
  await sql`delete from private.cadence_next_visits`;
  await sql`
    insert into private.cadence_next_visits (case_id, visit_on) values (${caseId}, '-infinity')`;
  return caseId;
}

const cadence = (tx: postgres.TransactionSql) =>
  tx`select outcome, cases::int from private.run_reminder_cadence(now())`;
const opened = (rows: postgres.RowList<postgres.Row[]>) =>
  rows.find((r) => r.outcome === "tasks_opened")?.cases;

async function taskOf(caseId: string) {
  return await adminSql()`
    select t.status, t.outcome, p.email as assignee
      from public.tasks t join public.profiles p on p.id = t.assignee_id
     where t.case_id = ${caseId}`;
}

async function race<T>(
  first: (tx: postgres.TransactionSql) => Promise<unknown>,
  second: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  const one = namedConnection("race-first");
  const two = namedConnection("race-second");
  try {
    return await firstThenSecond(
      { sql: one, userId: null, work: first },
      { sql: two, name: "race-second", userId: null, work: second },
    );
  } finally {
    await one.end();
    await two.end();
  }
}

dbTest("tasks race: a case lost while the cadence opens its task closes the task", async () => {
  const caseId = await caseWorthACall();
  let ran: postgres.RowList<postgres.Row[]> | undefined;
  await race(
    async (tx) => ran = await cadence(tx),
    (tx) =>
      tx`update public.renewal_cases set stage = 'lost', lost_reason = 'Sold the car'
          where id = ${caseId}`,
  );
  assert.equal(opened(ran!), 1, "the run opened this case's call task");
  const [task] = await taskOf(caseId);
  assert.equal(task.status, "done");
  assert.equal(task.outcome, "Closed with the case (lost)");
});

dbTest(
  "tasks race: a case handed over while the cadence opens its task hands the task over",
  async () => {
    const caseId = await caseWorthACall();
    let ran: postgres.RowList<postgres.Row[]> | undefined;
    await race(
      async (tx) => ran = await cadence(tx),
      (tx) =>
        tx`update public.renewal_cases
            set assignee_id = (select id from public.profiles where email = ${gopal})
          where id = ${caseId}`,
    );
    assert.equal(opened(ran!), 1);
    const [task] = await taskOf(caseId);
    assert.equal(task.status, "open");
    assert.equal(task.assignee, gopal, "the task follows its case to the new agent");
  },
);

dbTest("tasks race: a cadence run that waits for a case being lost opens no task", async () => {
  const caseId = await caseWorthACall();
  const ran = await race(
    (tx) =>
      tx`update public.renewal_cases set stage = 'lost', lost_reason = 'Sold the car'
          where id = ${caseId}`,
    cadence,
  );
  assert.equal(opened(ran), 0);
  assert.equal((await taskOf(caseId)).length, 0);
});

dbTest(
  "tasks race: a cadence run that waits for a hand-over opens the task for the new agent",
  async () => {
    const caseId = await caseWorthACall();
    const ran = await race(
      (tx) =>
        tx`update public.renewal_cases
            set assignee_id = (select id from public.profiles where email = ${gopal})
          where id = ${caseId}`,
      cadence,
    );
    assert.equal(opened(ran), 1);
    const [task] = await taskOf(caseId);
    assert.equal(task.assignee, gopal);
  },
);

dbTest("cadence race: a run that waits for a re-dating names the case's new date", async () => {
  const caseId = await caseWorthACall();
  const [before] = await adminSql()`select due_date from public.renewal_cases where id = ${caseId}`;
  await race(
    (tx) =>
      tx`update public.renewal_cases
            set due_date = due_date + 20, grace_end = grace_end + 20
          where id = ${caseId}`,
    cadence,
  );
  const [after] = await adminSql()`
    select to_char(due_date, 'FMDD Mon YYYY') as due
      from public.renewal_cases where id = ${caseId}`;
  const queued = await adminSql()`
    select m.variables ->> 'expiry_date' as expiry from public.messages m
     where m.case_id = ${caseId} and m.status <> 'cancelled'`;
  assert.ok(before.due_date, "the case had a due date");
  assert.ok(queued.length > 0, "the run wrote the step due on the new date");
  for (const message of queued) assert.equal(message.expiry, after.due);
});
