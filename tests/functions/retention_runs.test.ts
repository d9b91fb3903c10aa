// GET /api/retention/runs: the retention purge's runs, admins only, newest first, a page at a
// time. A real run of private.purge_expired_data (as of 2001-01-01: nothing in the shared
// database is old enough, so it purges nothing and counts 0) and three runs of this file dated
// 1990 (older than any other, so they are the last of the list whatever else is there); the
// 1990 rows are removed at the end. The nightly job's own call
// (private.purge_expired_data_in_rounds, as of now) commits its run, which is listed first.
// Managers, agents and analysts get 403, no token 401, a bad page or cursor 422.
import assert from "node:assert/strict";
import { encodeCursor } from "../../functions/_shared/cursor.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";

interface Run {
  id: string;
  as_of: string;
  started_at: string;
  finished_at: string;
  counts: Record<string, number>;
  settings: Record<string, number>;
  complete: boolean;
}

interface Page {
  data: Run[];
  next_cursor: string | null;
}

const kinds = [
  "ai_chat_messages",
  "ai_request_prompts",
  "documents",
  "expired_exports",
  "link_click_user_agents",
  "message_bodies",
  "message_event_payloads",
  "payment_event_payloads",
  "razorpay_call_requests",
];
const zeroCounts = Object.fromEntries(kinds.map((kind) => [kind, 0]));
const mine: string[] = [];
let realRun = "";

async function runs(email: string, query = ""): Promise<Response> {
  return await api(`/retention/runs${query}`, { token: await tokenFor(email) });
}

dbTest("retention runs: setup — a real run and three of 1990", async () => {
  const sql = adminSql();
  const [{ result }] = await sql<{ result: Record<string, unknown> }[]>`
    select private.purge_expired_data('2001-01-01T00:00:00Z') as result`;
  assert.deepEqual(result, { ...zeroCounts, complete: true });
  const [real] = await sql<{ id: string }[]>`
    select id from public.retention_runs where as_of = '2001-01-01T00:00:00Z'
     order by started_at desc limit 1`;
  realRun = real.id;
  // Two share their start to the microsecond: the id orders them.
  const rows = await sql<{ id: string }[]>`
    insert into public.retention_runs (as_of, started_at, finished_at, counts, settings, complete)
    select t, t, t + interval '2 seconds', ${
    sql.json(zeroCounts)
  }::jsonb || jsonb_build_object('message_bodies', n),
           '{"message_body_days": 365, "webhook_payload_days": 90, "ai_prompt_days": 30,
             "link_click_days": 365, "batch_size": 1000, "max_rows_per_run": 100000}',
           n <> 3
      from (values (1, '1990-01-03 21:45:00.123456+00'::timestamptz),
                   (2, '1990-01-02 21:45:00.5+00'::timestamptz),
                   (3, '1990-01-02 21:45:00.5+00'::timestamptz)) v (n, t)
    returning id`;
  mine.push(...rows.map((row) => row.id));
});

dbTest("retention runs: an admin pages through them, newest first", async () => {
  const token = await tokenFor("admin@py360.test");
  const seen: Run[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = `?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
    const page: Page = await expectJson(await api(`/retention/runs${query}`, { token }), 200);
    assert.ok(page.data.length >= 1 && page.data.length <= 2, `page of ${page.data.length}`);
    seen.push(...page.data);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < 1000);
  assert.equal(cursor, null, "the last page says there is no next");
  assert.equal(new Set(seen.map((run) => run.id)).size, seen.length, "no run twice");
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i - 1].started_at >= seen[i].started_at, "newest started first");
  }
  // The 1990 runs are the oldest: the last three, the later one first, then the two of the same
  // start by id.
  const ties = mine.slice(1).sort();
  assert.deepEqual(seen.slice(-3).map((run) => run.id), [mine[0], ...ties]);
  const first = seen.find((run) => run.id === mine[0]);
  assert.deepEqual(first, {
    id: mine[0],
    as_of: "1990-01-03T21:45:00.123Z",
    started_at: "1990-01-03T21:45:00.123Z",
    finished_at: "1990-01-03T21:45:02.123Z",
    counts: { ...zeroCounts, message_bodies: 1 },
    settings: {
      message_body_days: 365,
      webhook_payload_days: 90,
      ai_prompt_days: 30,
      link_click_days: 365,
      batch_size: 1000,
      max_rows_per_run: 100000,
    },
    complete: true,
  });
  assert.equal(seen.find((run) => run.id === mine[2])?.complete, false);
  const real = seen.find((run) => run.id === realRun);
  assert.ok(real, "the real run is listed");
  assert.deepEqual(real.counts, zeroCounts);
  assert.equal(real.as_of, "2001-01-01T00:00:00.000Z");
  assert.ok(real.finished_at >= real.started_at);
});

dbTest("retention runs: the nightly job's call commits its run, listed first", async () => {
  const sql = adminSql();
  // What pg_cron runs, at top level (the procedure commits after each run).
  await sql`call private.purge_expired_data_in_rounds()`;
  const [latest] = await sql<{ id: string; complete: boolean }[]>`
    select id, complete from public.retention_runs order by started_at desc, id limit 1`;
  assert.equal(latest.complete, true, "the demo book's backlog fits in one run");
  const page: Page = await expectJson(await runs("admin@py360.test", "?limit=1"), 200);
  assert.equal(page.data[0].id, latest.id);
  assert.ok(Date.now() - Date.parse(page.data[0].as_of) < 10 * 60_000, "as of now");
  assert.notEqual(page.next_cursor, null, "more runs follow");
  await sql`delete from public.retention_runs where id = ${latest.id}`;
});

dbTest("retention runs: managers, agents and analysts get 403; no token 401", async () => {
  for (
    const email of ["north.manager@py360.test", "arjun.agent@py360.test", "analyst@py360.test"]
  ) {
    const problem = await expectProblem(await runs(email), 403);
    assert.match(problem.detail, /admins/, email);
  }
  await expectProblem(await api("/retention/runs"), 401);
});

dbTest("retention runs: a bad page size or cursor is a 422", async () => {
  for (const query of ["?limit=0", "?limit=101", "?limit=two"]) {
    await expectProblem(await runs("admin@py360.test", query), 422);
  }
  // Not base64 of a key; a key whose date does not exist (30 February).
  for (const cursor of ["not-a-cursor", encodeCursor(["1990-02-30T00:00:00.000000Z", mine[0]])]) {
    const problem = await expectProblem(await runs("admin@py360.test", `?cursor=${cursor}`), 422);
    assert.equal(problem.errors?.[0]?.code, "invalid_cursor", cursor);
  }
});

dbTest("retention runs: teardown — the 1990 runs go", async () => {
  const gone = await adminSql()`delete from public.retention_runs where id = any (${mine}::uuid[])`;
  assert.equal(gone.count, 3);
});
