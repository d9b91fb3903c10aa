// Two writers at once, each on a connection of its own acting as a signed-in user the way the API
// does: for tests that prove the second writer waits for the first and then judges what it
// committed.
import postgres from "postgres";
import { adminDbUrl, adminSql } from "./_helpers.ts";

/** A connection of its own, named so pg_stat_activity can tell when it waits. */
export function namedConnection(name: string): postgres.Sql {
  return postgres(adminDbUrl(), {
    max: 1,
    onnotice: () => {},
    connection: { application_name: name },
  });
}

/** Acts as `userId` (role authenticated with their claims) for the rest of the transaction. */
export function actAs(tx: postgres.TransactionSql, userId: string) {
  return tx`select set_config('role', 'authenticated', true),
                   set_config('request.jwt.claims', ${
    JSON.stringify({ sub: userId, role: "authenticated" })
  }, true)`;
}

/** Resolves once the connection named `name` waits for a lock; throws after 10 s. */
export async function waitsForLock(name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await adminSql()`
      select count(*)::int as n from pg_stat_activity
       where application_name = ${name} and wait_event_type = 'Lock'`;
    if (row.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} never waited for the other writer`);
}

/**
 * Runs `work` as `userId` (null: as the connection's own role, as a job or an import does) in a
 * transaction that stays open until `release` resolves: `worked` resolves when the work is done
 * (its locks held), `committed` when the transaction ends.
 */
export function holdOpen(
  sql: postgres.Sql,
  userId: string | null,
  work: (tx: postgres.TransactionSql) => Promise<unknown>,
  release: Promise<void>,
) {
  let done!: () => void;
  const worked = new Promise<void>((resolve) => done = resolve);
  const committed = sql.begin(async (tx) => {
    if (userId) await actAs(tx, userId);
    await work(tx);
    done();
    await release;
  });
  return { worked, committed };
}

/**
 * The first writer holds its transaction open; the second starts, must wait for a lock, and
 * finishes once the first commits. Returns what the second writer's work returned (or threw).
 * Each acts as its `userId`, or as its connection's own role when that is null.
 */
export async function firstThenSecond<T>(
  first: {
    sql: postgres.Sql;
    userId: string | null;
    work: (tx: postgres.TransactionSql) => Promise<unknown>;
  },
  second: {
    sql: postgres.Sql;
    name: string;
    userId: string | null;
    work: (tx: postgres.TransactionSql) => Promise<T>;
  },
): Promise<T> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  try {
    const held = holdOpen(first.sql, first.userId, first.work, gate);
    await held.worked;
    const later = second.sql.begin(async (tx) => {
      if (second.userId) await actAs(tx, second.userId);
      return await second.work(tx);
    });
    later.catch(() => {}); // judged below, after the first writer has committed
    await waitsForLock(second.name);
    release();
    await held.committed;
    return await later as T;
  } finally {
    release(); // a failed wait must not leave the first writer's transaction open
  }
}
