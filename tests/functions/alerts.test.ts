// GET /api/alerts against the real evaluator: a breaker opened on the database raises an alert
// that admins read with its emails and managers without them; agents and analysts get 403, bad
// queries 422; closing the breaker resolves it. The test holds the evaluator's lock for its
// whole run (one connection of its own), so the pg_cron job cannot evaluate in between.
import assert from "node:assert/strict";
import postgres from "postgres";
import { adminDbUrl, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";

const evaluator = postgres(adminDbUrl(), { max: 1, onnotice: () => {} });
const sendgridBreaker = { breaker: "closed", since: new Date() };

interface AlertBody {
  id: string;
  rule: string;
  subject: string;
  status: string;
  resolution: string | null;
  value: number | null;
  summary: string;
  details: Record<string, unknown>;
  reopened: number;
  notified: number;
  raised_at: string;
  resolved_at: string | null;
  emails: { raised: Record<string, number>; resolved: Record<string, number> } | null;
}

async function alerts(email: string, query = ""): Promise<{ data: AlertBody[]; open: number }> {
  return await expectJson(await api(`/alerts${query}`, { token: await tokenFor(email) }), 200);
}

/** Active admins whose address is not suppressed: those an alert email is queued for. */
async function reachableAdmins(): Promise<number> {
  const [{ n }] = await evaluator<{ n: number }[]>`
    select count(*)::int as n from public.profiles p join auth.users u on u.id = p.id
     where p.role = 'admin' and p.active
       and not exists (select 1 from public.suppressions s
                        where s.channel = 'email' and s.address = lower(u.email))`;
  return n;
}

dbTest("alerts: setup — the evaluator paused for this file, SendGrid's breaker open", async () => {
  await evaluator`select pg_advisory_lock(hashtext('private.evaluate_alerts'))`;
  const [state] = await evaluator<{ breaker: string; since: Date }[]>`
    select breaker, breaker_since as since from public.provider_state where provider = 'sendgrid'`;
  Object.assign(sendgridBreaker, state);
  await evaluator`
    update public.provider_state set breaker = 'open', breaker_since = now() - interval '2 minutes'
     where provider = 'sendgrid'`;
  await evaluator`
    insert into public.provider_breaker_events (provider, breaker, at)
    values ('sendgrid', 'open', now() - interval '2 minutes')`;
  const [{ result }] = await evaluator<{ result: { failed: Record<string, string> } }[]>`
    select private.evaluate_alerts(now()) as result`;
  assert.deepEqual(result.failed, {});
});

dbTest("alerts: an admin reads the open alert first, with its emails", async () => {
  const { data, open } = await alerts("admin@py360.test");
  const mine = data.filter((a) => a.rule === "provider_breaker_open" && a.subject === "sendgrid");
  assert.equal(mine.length, 1);
  const [alert] = mine;
  assert.equal(alert.status, "open");
  assert.equal(alert.resolved_at, null);
  assert.ok(alert.value !== null && alert.value >= 120, `open for ${alert.value} s`);
  assert.match(alert.summary, /^sendgrid: circuit breaker open since /);
  assert.equal(alert.details.breaker, "open");
  const admins = await reachableAdmins();
  assert.equal(alert.notified, admins);
  assert.deepEqual(alert.emails, { raised: { queued: admins }, resolved: {} });
  assert.match(alert.raised_at, /Z$/);
  assert.ok(open >= 1);
  // Open ones come first.
  const firstResolved = data.findIndex((a) => a.status === "resolved");
  if (firstResolved >= 0) assert.ok(data.slice(firstResolved).every((a) => a.status !== "open"));
});

dbTest("alerts: a manager reads it without the emails", async () => {
  const { data } = await alerts("cp.manager@py360.test");
  const alert = data.find((a) => a.rule === "provider_breaker_open" && a.subject === "sendgrid");
  assert.ok(alert, "the manager sees the alert");
  assert.equal(alert.emails, null);
});

dbTest("alerts: agents and analysts get 403, no token 401, bad queries 422", async () => {
  for (const email of ["arjun.agent@py360.test", "analyst@py360.test"]) {
    const problem = await expectProblem(
      await api("/alerts", { token: await tokenFor(email) }),
      403,
    );
    assert.equal(problem.detail, "Only admins and managers read alerts.");
  }
  await expectProblem(await api("/alerts"), 401);
  const token = await tokenFor("admin@py360.test");
  for (const query of ["?limit=0", "?limit=501", "?status=closed", "?days=0", "?days=91"]) {
    await expectProblem(await api(`/alerts${query}`, { token }), 422);
  }
});

dbTest("alerts: the breaker closes, the alert resolves and says so", async () => {
  await evaluator`
    update public.provider_state set breaker = 'closed', breaker_since = now()
     where provider = 'sendgrid'`;
  await evaluator`select private.evaluate_alerts(now())`;
  const resolved = await alerts("admin@py360.test", "?status=resolved");
  const alert = resolved.data.find((a) =>
    a.rule === "provider_breaker_open" && a.subject === "sendgrid"
  );
  assert.ok(alert, "listed among the resolved");
  assert.equal(alert.resolution, "cleared");
  assert.match(alert.resolved_at ?? "", /Z$/);
  const admins = await reachableAdmins();
  assert.deepEqual(alert.emails, { raised: { queued: admins }, resolved: { queued: admins } });
  assert.ok(resolved.data.every((a) => a.status === "resolved"));
  const open = await alerts("admin@py360.test", "?status=open");
  assert.ok(!open.data.some((a) => a.id === alert.id), "no longer among the open");
  assert.ok(open.data.every((a) => a.status === "open"));
});

Deno.test({
  name: "alerts: teardown — SendGrid's breaker as it was, this file's alerts gone",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await evaluator`
      update public.provider_state set breaker = ${sendgridBreaker.breaker},
             breaker_since = ${sendgridBreaker.since}
       where provider = 'sendgrid'`;
    await evaluator`
      delete from public.alerts where rule = 'provider_breaker_open' and subject = 'sendgrid'`;
    await evaluator`select pg_advisory_unlock(hashtext('private.evaluate_alerts'))`;
    await evaluator.end();
  },
});
