// GET /api/health's vendor section (`messaging`): who gets it, and that its figures move with the
// database — a budget set, staff emails waiting in the queue, sends and failures of a provider in
// the last 15 minutes.
import assert from "node:assert/strict";
import { config } from "../../functions/_shared/config.ts";
import { adminSql, api, dbTest, expectJson, localApiKeys, tokenFor } from "./_helpers.ts";

interface ProviderHealth {
  provider: string;
  enabled: boolean;
  configured: boolean;
  breaker: string;
  breaker_since: string;
  error_rate_percent: number | null;
  attempts: number;
  errors: number;
  p95_send_ms: number | null;
  daily_quota: number | null;
  used_today: number;
  quota_used_percent: number | null;
  spend_month_paise: string;
  budget_paise: number | null;
  budget_used_percent: number | null;
  queued: number;
  due: number;
  oldest_due_age_seconds: number | null;
  last_callback_at: string | null;
}

interface Messaging {
  as_of: string;
  window_minutes: number;
  spend_as_of: string | null;
  providers: ProviderHealth[];
  queue: { queued: number; due: number; sending: number; oldest_due_age_seconds: number | null };
}

async function messaging(token?: string): Promise<Messaging> {
  token ??= await tokenFor("admin@py360.test");
  const health = await expectJson(await api("/health", { token }), 200);
  assert.ok(health.messaging, "the health answer has its messaging section");
  return health.messaging;
}

const provider = (section: Messaging, code: string) => {
  const found = section.providers.find((p) => p.provider === code);
  assert.ok(found, code);
  return found;
};

dbTest("health_vendors: admins and service_role get the section; nobody else", async () => {
  const { anon, serviceRole } = await localApiKeys();
  const section = await messaging(serviceRole);
  assert.equal(section.window_minutes, 15);
  assert.match(section.as_of, /Z$/);
  for (const token of [undefined, anon, await tokenFor("cp.manager@py360.test")]) {
    const body = await expectJson(await api("/health", { token }), 200);
    assert.deepEqual(body, { status: "ok" });
  }
});

dbTest("health_vendors: every provider, as the database and this host know it", async () => {
  const sql = adminSql();
  const section = await messaging();
  const states = await sql<{ provider: string; breaker: string }[]>`
    select provider, breaker from public.provider_state order by provider`;
  assert.deepEqual(
    section.providers.map((p) => [p.provider, p.breaker]),
    states.map((s) => [s.provider, s.breaker]),
  );
  const quotas = await sql<{ provider: string; daily_quota: number | null; used: number }[]>`
    select provider, daily_quota, used from private.provider_quota(now())`;
  const vendors = config().vendors;
  const vendorOf: Record<string, keyof typeof vendors> = {
    twilio: "twilio",
    aws_sns: "sns",
    aws_ses: "ses",
    sendgrid: "sendgrid",
    whatsapp_cloud: "whatsapp",
    telegram: "telegram",
  };
  for (const p of section.providers) {
    const quota = quotas.find((q) => q.provider === p.provider);
    assert.equal(p.daily_quota, quota?.daily_quota ?? null, p.provider);
    assert.equal(p.used_today, quota?.used ?? 0, p.provider);
    assert.equal(p.configured, vendors[vendorOf[p.provider]].enabled, p.provider);
    assert.match(p.spend_month_paise, /^\d+(\.\d+)?$/, "paise as an exact decimal string");
  }
  const [{ enabled }] = await sql<{ enabled: boolean }[]>`
    select exists (select 1 from public.channels where enabled and provider = 'whatsapp_cloud')
      as enabled`;
  assert.equal(provider(section, "whatsapp_cloud").enabled, enabled);
});

dbTest("health_vendors: a provider's budget shows against its month's spend", async () => {
  const sql = adminSql();
  const [before] = await sql<{ value: unknown }[]>`
    select value from public.app_settings where key = 'VENDOR_MONTHLY_BUDGET_PAISE'`;
  assert.ok(before, "the setting exists");
  try {
    // "much" is refused on write (private.setting_rules): written past the rule, as only the
    // table's owner can, for the reader's fallback.
    await sql`select tests.write_settings_unchecked(
      '{"VENDOR_MONTHLY_BUDGET_PAISE": {"aws_ses": 12345, "twilio": "much"}}')`;
    const section = await messaging();
    const ses = provider(section, "aws_ses");
    assert.equal(ses.budget_paise, 12345);
    assert.equal(
      ses.budget_used_percent,
      Math.round(1000 * Number(ses.spend_month_paise) / 12345) / 10,
    );
    assert.equal(provider(section, "twilio").budget_paise, null, "not a number: no budget");
    assert.equal(provider(section, "sendgrid").budget_paise, null, "absent: no budget");
  } finally {
    await sql`update public.app_settings set value = ${sql.json(before.value as never)}
               where key = 'VENDOR_MONTHLY_BUDGET_PAISE'`;
  }
});

dbTest("health_vendors: staff emails due ten minutes ago show in the queue", async () => {
  const sql = adminSql();
  const key = `health-${crypto.randomUUID()}`;
  const before = await messaging();
  const [{ queued }] = await sql<{ queued: number }[]>`
    select private.notify_admins('health_test', 'Queue probe', null, 'probe', ${key},
                                 now() - interval '10 minutes') as queued`;
  assert.ok(queued >= 1);
  try {
    const after = await messaging();
    assert.equal(after.queue.due, before.queue.due + queued);
    assert.ok((after.queue.oldest_due_age_seconds ?? 0) >= 600, "waiting at least 10 minutes");
    const ses = provider(after, "aws_ses");
    assert.equal(ses.due, provider(before, "aws_ses").due + queued);
    assert.ok((ses.oldest_due_age_seconds ?? 0) >= 600);
  } finally {
    await sql`update public.messages set status = 'cancelled', cancelled_at = now()
               where idempotency_key like ${`staff:%:${key}`} and status = 'queued'`;
  }
});

dbTest("health_vendors: a provider's sends and failures of the last 15 minutes", async () => {
  const sql = adminSql();
  const tag = crypto.randomUUID();
  const [customer] = await sql<{ id: string }[]>`select id from public.customers limit 1`;
  const before = provider(await messaging(), "sendgrid");
  // Three accepted in 250 ms, one dead for a provider cause (429), one failed for the customer's
  // (a bounce: not the provider's error), one sent an hour ago (outside the window).
  await sql`
    insert into public.messages (customer_id, channel, purpose, body, recipient, idempotency_key,
                                 status, provider, sending_at, sent_at, failed_at, dead_at,
                                 dead_reason, last_error_code)
    select ${customer.id}, 'email', 'service', 'x', 'probe@example.test', ${tag} || ':' || n,
           s.status::public.message_status, 'sendgrid', now() - s.ago,
           case when s.status = 'sent' then now() - s.ago + interval '250 milliseconds' end,
           case when s.status = 'failed' then now() - s.ago end,
           case when s.status = 'dead' then now() - s.ago end,
           case when s.status = 'dead' then 'retries_exhausted' end, s.code
      from (values (1, 'sent', interval '1 minute', null), (2, 'sent', interval '1 minute', null),
                   (3, 'sent', interval '1 minute', null), (4, 'dead', interval '1 minute', '429'),
                   (5, 'failed', interval '1 minute', 'event.bounce'),
                   (6, 'sent', interval '1 hour', null)) as s (n, status, ago, code)`;
  try {
    const after = provider(await messaging(), "sendgrid");
    assert.equal(after.attempts - before.attempts, 4, "three sends and the provider's failure");
    assert.equal(after.errors - before.errors, 1);
    assert.equal(
      after.error_rate_percent,
      Math.round(1000 * after.errors / after.attempts) / 10,
    );
    assert.ok(after.p95_send_ms !== null && after.p95_send_ms >= 0);
  } finally {
    await sql`delete from public.messages where idempotency_key like ${tag + ":%"}`;
  }
});
