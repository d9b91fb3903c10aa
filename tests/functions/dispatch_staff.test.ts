// Staff notifications through the real pipeline: private.notify_admins queues an email per
// active admin, the drain (functions/_shared/dispatch.ts) claims it and the real SES provider
// sends it, text and HTML, to the vendor sandbox, which receives it once per message.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { drain } from "../../functions/_shared/dispatch.ts";
import { buildProviders } from "../../functions/_shared/providers/mod.ts";
import { startSandbox } from "../../sandbox/mod.ts";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { control } from "./_webhooks.ts";
import { adminSql, dbTest } from "./_helpers.ts";

const sandbox = await startSandbox();
const providers = buildProviders(parseConfig({
  ...sandboxEnv(sandbox, "http://127.0.0.1:9/functions/v1"),
  FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
}));

interface SesRequest {
  ourId?: string;
  to: string;
  subject: string;
  body: string;
  params: Record<string, unknown>;
}

dbTest("dispatch_staff: an alert email reaches every active admin through SES, once", async () => {
  const sql = adminSql();
  await control(sandbox, "aws_ses", { callbacks: { mode: "none" } });
  const key = `staff-dispatch-${crypto.randomUUID()}`;
  const [{ queued }] = await sql<{ queued: number }[]>`
    select private.notify_admins('alert_raised', 'Queue is late',
                                 '<p>The <b>queue</b> is late</p>', 'The queue is late',
                                 ${key}) as queued`;
  const admins = await sql<{ id: string; email: string }[]>`
    select p.id, lower(u.email) as email from public.profiles p join auth.users u on u.id = p.id
     where p.role = 'admin' and p.active
       and not exists (select 1 from public.suppressions s
                        where s.channel = 'email' and s.address = lower(u.email))`;
  assert.ok(admins.length >= 1, "the demo book has an active admin");
  assert.equal(queued, admins.length);
  const messages = await sql<{ id: string; staff_id: string }[]>`
    select id, staff_id from public.messages where idempotency_key like ${`staff:%:${key}`}`;
  assert.equal(messages.length, admins.length);

  const until = Date.now() + 20_000;
  let rows: { id: string; status: string; provider: string; provider_message_id: string }[] = [];
  while (Date.now() < until) {
    await drain({ worker: "w-staff", providers, budgetMs: 2_000 });
    rows = await sql`
      select id, status::text, provider, provider_message_id from public.messages
       where id = any(${messages.map((m) => m.id)}::uuid[])`;
    if (rows.every((row) => !["queued", "sending"].includes(row.status))) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual([...new Set(rows.map((row) => `${row.status}/${row.provider}`))], [
    "sent/aws_ses",
  ]);

  const received: SesRequest[] = await (await fetch(`${sandbox.url}/_inspect/aws_ses/requests`))
    .json();
  for (const message of messages) {
    const mine = received.filter((request) => request.ourId === message.id);
    assert.equal(mine.length, 1, `SES received ${message.id} once`);
    const admin = admins.find((a) => a.id === message.staff_id);
    assert.equal(mine[0].to, admin?.email);
    assert.equal(mine[0].subject, "Queue is late");
    assert.equal(mine[0].body, "The queue is late");
    assert.equal(mine[0].params["Message.Body.Html.Data"], "<p>The <b>queue</b> is late</p>");
    assert.ok(
      rows.find((row) => row.id === message.id)?.provider_message_id,
      "SES's message id is kept",
    );
  }
});

Deno.test({
  name: "dispatch_staff: teardown",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => sandbox.close(),
});
