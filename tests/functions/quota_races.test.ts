// Two dispatchers claiming at the edge of a provider's daily quota (migration
// 20261129230137_throttle_claims_to_provider_quotas): the claim counts what it hands a provider
// in private.provider_usage and takes the quota in the same locked upsert, so two claims at once
// never both use the last unit. Each test has a vendor and a fallback vendor of its own (X with
// a quota on an enabled SMS channel whose fallback is Y; Y's quota on a disabled channel), so
// nothing else it counts, and removes them at its end.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { adminSql, createCase, dbTest } from "./_helpers.ts";
import { namedConnection, waitsForLock } from "./_concurrency.ts";
import { createTemplate, enqueue } from "./_messaging.ts";

interface Setup {
  x: string;
  y: string;
  ids: string[];
}

/**
 * Vendors X and Y of this test's own, X's channel with `quotaX` a day and Y as its fallback,
 * Y's quota `quotaY`, and `count` transactional SMS on X at priority 0, due long ago (so a
 * claim takes them before anything else another test left queued).
 */
async function setUp(quotaX: number, quotaY: number, count: number): Promise<Setup> {
  const sql = adminSql();
  const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
  const x = `qx_${tag}`;
  const y = `qy_${tag}`;
  await sql`
    insert into public.vendors (code, name, kind)
    values (${x}, ${"Quota race X " + tag}, 'sms'), (${y}, ${"Quota race Y " + tag}, 'sms')`;
  await sql`
    insert into public.channels (type, name, provider, fallback_provider, daily_quota, enabled)
    values ('sms', ${"zz quota race " + tag}, ${x}, ${y}, ${quotaX}, true),
           ('sms', ${"zz quota race fallback " + tag}, ${y}, null, ${quotaY}, false)`;
  const { customerId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const ids = await enqueue(
    Array.from({ length: count }, () => ({ customer_id: customerId, template_code: code })),
  );
  assert.equal(ids.length, count);
  await sql`
    update public.messages m
       set provider = ${x}, priority = 0,
           next_attempt_at = timestamptz '2000-01-01 00:00:00+00' + make_interval(secs => o.n)
      from unnest(${ids}::uuid[]) with ordinality as o (id, n)
     where m.id = o.id and m.status = 'queued'`;
  return { x, y, ids };
}

async function tearDown({ x, y, ids }: Setup) {
  const sql = adminSql();
  await sql`delete from public.messages where id = any(${ids}::uuid[])`;
  await sql`delete from public.channels where provider in (${x}, ${y})`;
  await sql`delete from public.vendors where code in (${x}, ${y})`;
}

/** What private.provider_quota says of `code` today: [daily_quota, used]. */
async function quota(code: string): Promise<[number | null, number]> {
  const [row] = await adminSql()`
    select daily_quota, used from private.provider_quota(now()) where provider = ${code}`;
  return [row.daily_quota, row.used];
}

/** Where the messages ended: per provider and status/deferred_reason, counted. */
async function outcome(ids: string[]): Promise<Record<string, number>> {
  const rows = await adminSql()`
    select format('%s %s%s', provider, status, coalesce(' ' || deferred_reason, '')) as what,
           count(*)::int as n
      from public.messages where id = any(${ids}::uuid[]) group by 1 order by 1`;
  return Object.fromEntries(rows.map((row) => [row.what, row.n]));
}

/** A claim of `batch` as `worker` on a connection of its own: the providers handed, in order. */
function claim(sql: postgres.Sql | postgres.TransactionSql, worker: string, batch: number) {
  return sql<{ provider: string }[]>`
    select c.provider from private.claim_messages(${worker}, ${batch}) c`;
}

dbTest("quota race: the second claim waits for the first and sees the quota it used", async () => {
  const setup = await setUp(3, 2, 6);
  const { x, y, ids } = setup;
  const first = namedConnection("quota-race-w1");
  const second = namedConnection("quota-race-w2");
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  try {
    let claimed!: () => void;
    const firstClaimed = new Promise<void>((resolve) => claimed = resolve);
    let firstGot: string[] = [];
    // The first dispatcher's claim, its transaction held open: it has taken all of X's quota.
    const held = first.begin(async (tx) => {
      firstGot = (await claim(tx, "quota-w1", 3)).map((row) => row.provider);
      claimed();
      await gate;
    });
    await firstClaimed;
    assert.deepEqual(firstGot, [x, x, x]);
    // The second takes the other three messages (the first's are skipped), then must wait for
    // X's usage row before it may count anything on X.
    const later = claim(second, "quota-w2", 3);
    later.catch(() => {}); // judged below
    await waitsForLock("quota-race-w2");
    release();
    await held;
    const secondGot = (await later).map((row) => row.provider);
    assert.deepEqual(secondGot, [y, y], "X is full: two go to Y, its quota");
    assert.deepEqual(await outcome(ids), {
      [`${x} queued quota_exhausted`]: 1,
      [`${x} sending`]: 3,
      [`${y} sending`]: 2,
    });
    assert.deepEqual(await quota(x), [3, 3]);
    assert.deepEqual(await quota(y), [2, 2]);
  } finally {
    release();
    await first.end();
    await second.end();
    await tearDown(setup);
  }
});

dbTest("quota race: claims at the same moment never hand out more than the quotas", async () => {
  for (let round = 0; round < 5; round++) {
    const setup = await setUp(5, 2, 8);
    const { x, y, ids } = setup;
    const workers = [
      namedConnection(`quota-race-a${round}`),
      namedConnection(`quota-race-b${round}`),
    ];
    try {
      const got = await Promise.all(workers.map((sql, n) => claim(sql, `quota-${round}-${n}`, 4)));
      const handed = got.flat().map((row) => row.provider);
      assert.equal(handed.filter((p) => p === x).length, 5, `round ${round}: X's quota, no more`);
      assert.equal(handed.filter((p) => p === y).length, 2, `round ${round}: Y's quota, no more`);
      assert.deepEqual(await outcome(ids), {
        [`${x} queued quota_exhausted`]: 1,
        [`${x} sending`]: 5,
        [`${y} sending`]: 2,
      });
      assert.deepEqual(await quota(x), [5, 5]);
      assert.deepEqual(await quota(y), [2, 2]);
    } finally {
      await Promise.all(workers.map((sql) => sql.end()));
      await tearDown(setup);
    }
  }
});
