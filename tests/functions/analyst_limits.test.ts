// The analysts' enforced limits (private.enforce_analyst_limits, pg_cron every minute; review of
// issue 11 defect 4) against real sessions of an analyst login made as `npm run analyst -- add`
// makes one: the analyst lifts their statement timeout (for the session and on their own role)
// and starts a long statement, and the watchdog, run with its clock two minutes on, cancels it
// (57014) while an unrelated superuser statement runs on; an analyst session left idle in a
// transaction is ended at six minutes, not at four; temp_file_limit is set on the login and the
// analyst can change it neither for the session nor on the role.
import assert from "node:assert/strict";
import postgres from "postgres";
import { addAnalystLogin, removeAnalystLogin } from "../../scripts/lib/analyst_logins.ts";
import { adminDbUrl, dbTest } from "./_helpers.ts";

// postgres.js (3.4.9) throws from its socket handler when it writes to a connection the server
// has ended, as the watchdog ends the idle analyst's session here (see dispatch_chaos.test.ts);
// closing the pool may do so: the test expects that session to be gone, so that error is not a
// failure.
globalThis.addEventListener("error", (event) => {
  if (event.error instanceof TypeError && /reading 'write'/.test(event.error.message)) {
    event.preventDefault();
  }
});

function loginAs(role: string, password: string): postgres.Sql {
  const url = new URL(adminDbUrl());
  url.username = role;
  url.password = password;
  return postgres(url.href, { max: 1, onnotice: () => {}, connect_timeout: 10 });
}

async function sqlState(query: Promise<unknown>): Promise<string | undefined> {
  try {
    await query;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/** Waits until the session `pid` is in `state` (the server's view; "gone": ended), ~10 s at most. */
async function untilState(admin: postgres.Sql, pid: number, state: string) {
  for (let i = 0; i < 200; i++) {
    const [row] = await admin`select state from pg_stat_activity where pid = ${pid}`;
    if ((row?.state ?? "gone") === state) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`session ${pid} never reached ${state}`);
}

interface Enforced {
  cancelled: number;
  terminated: number;
}

dbTest(
  "analyst limits: the watchdog cancels a long statement and ends an idle transaction",
  async () => {
    const admin = postgres(adminDbUrl(), { max: 2, onnotice: () => {} });
    const name = `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const { role, password } = await addAnalystLogin(admin, name);
    const enforce = async (minutesOn: number) => {
      const [{ result }] = await admin<{ result: Enforced }[]>`
      select private.enforce_analyst_limits(now() + make_interval(mins => ${minutesOn}))
               as result`;
      return result;
    };
    const session = loginAs(role, password);
    const idle = loginAs(role, password);
    try {
      // The first run sets temp_file_limit on the new login.
      await enforce(0);
      const [limits] = await session`
      select current_setting('temp_file_limit') as temp, pg_backend_pid() as pid`;
      assert.equal(limits.temp, "1GB");
      // What the group's defaults could not stop: read-only transactions switched off.
      await session`set default_transaction_read_only = off`;
      assert.equal(await sqlState(session`set temp_file_limit = -1`), "42501");
      assert.equal(
        await sqlState(session.unsafe(`alter role ${role} set temp_file_limit = -1`)),
        "42501",
      );

      // What the group's defaults could not stop.
      await session`set statement_timeout = 0`;
      await session.unsafe(`alter role ${role} set statement_timeout = 0`);
      const long = sqlState(session`select pg_sleep(30)`);
      await untilState(admin, limits.pid, "active");
      // A superuser's own long statement is no analyst's: left running.
      const other = postgres(adminDbUrl(), { max: 1, onnotice: () => {} });
      const [{ pid: otherPid }] = await other`select pg_backend_pid() as pid`;
      const otherSleep = other`select pg_sleep(2)`.execute();
      await untilState(admin, otherPid, "active");

      const early = await enforce(0);
      assert.equal(early.cancelled, 0, "under the limit: nothing cancelled");
      const enforced = await enforce(2);
      assert.equal(enforced.cancelled, 1);
      assert.equal(await long, "57014", "the analyst's statement is cancelled");
      await otherSleep;
      await other.end();
      const [after] = await session`select 1 as one`;
      assert.equal(after.one, 1, "the session itself stays");

      // Idle in a transaction: ended past five minutes.
      const reserved = await idle.reserve();
      const [{ pid: idlePid }] = await reserved`select pg_backend_pid() as pid`;
      await reserved`begin`;
      await reserved`select 1`;
      await untilState(admin, idlePid, "idle in transaction");
      assert.equal((await enforce(4)).terminated, 0, "four minutes: still under the limit");
      assert.equal((await enforce(6)).terminated, 1);
      // Ended: the server no longer lists it. (No query is sent on it: postgres.js may write to
      // the closed socket before it learns of the close, and that query never settles.)
      await untilState(admin, idlePid, "gone");
      reserved.release();
    } finally {
      await session.end({ timeout: 1 }).catch(() => {});
      await idle.end({ timeout: 1 }).catch(() => {});
      await removeAnalystLogin(admin, name).catch(() => {});
      await admin.end();
    }
  },
);
