// The simulated renewal desk (scripts/lib/simulation/engine.ts, `npm start -- --simulate`) on the
// journeys' stack: three days over a small book of its own, then its funnel checked against the
// database and the sandbox, counting only that book. Day 1 is the catch-up day (every case opened
// gets its latest step), Twilio is down on it, and the desk's WhatsApp offer goes out on days 1
// and 3, so the STOP replies of day 1 meet the offer of day 3.
import assert from "node:assert/strict";
import { localAuthIssuer, localJwtSecret } from "../../scripts/lib/keys.ts";
import { simulateDesk, type SimulationResult } from "../../scripts/lib/simulation/engine.ts";
import { billedStatuses } from "../../scripts/lib/simulation/funnel.ts";
import { personaNames } from "../../scripts/lib/simulation/personas.ts";
import { acceptedBy, adminSql, functionsUrl, journey, sandboxUrl } from "./_stack.ts";

const policies = 70;
/** A tag of this run: the book's policy numbers and its customers' city carry it. */
const tag = `E2E${crypto.randomUUID().slice(0, 6).toUpperCase()}`;

const sum = (figures: Record<string, number>) => Object.values(figures).reduce((a, b) => a + b, 0);

// The book's cases still open are retired when the journey ends (journey() in _stack.ts).
journey("simulated desk: three days over a small book add up", threeDays);

/** The journey's steps. */
async function threeDays(t: Deno.TestContext) {
  let result!: SimulationResult;
  await t.step("the engine plays three days on the running stack", async () => {
    result = await simulateDesk({
      functionsUrl,
      sandboxUrl,
      databaseUrl: Deno.env.get("TEST_ADMIN_DB_URL")!,
      jwtSecret: Deno.env.get("SUPABASE_JWT_SECRET") ?? localJwtSecret,
      authIssuer: Deno.env.get("JWT_ISSUER") ?? localAuthIssuer,
    }, {
      days: 3,
      policies,
      seed: 14,
      tag,
      // A language no other journey uses: the run's WhatsApp and SMS variants of the ladder
      // reach only this book, and are switched off afterwards.
      language: "ks",
      outageDay: 1,
      campaignDays: [1, 3],
    });
    assert.equal(result.reports.length, 3);
    assert.equal(result.book.customers.length, policies);
    assert.deepEqual(result.reports.map((r) => r.day), [1, 2, 3]);
  });

  const sql = adminSql();
  const customerIds = () => result.book.customers.map((c) => c.customerId);

  await t.step("every persona is in the book, and the personas sum to it", () => {
    for (const persona of personaNames) {
      assert.ok(result.personas.find((p) => p.persona === persona)!.customers > 0, persona);
    }
    assert.equal(result.personas.reduce((n, p) => n + p.customers, 0), policies);
  });

  await t.step("cases by stage sum to the book's cases", async () => {
    const [row] = await sql`
      select count(*)::int as n from public.renewal_cases
       where customer_id = any(${customerIds()}::uuid[])`;
    assert.ok(row.n > 0, "the daily jobs opened cases");
    assert.equal(result.final.cases, row.n);
    assert.equal(sum(result.final.stages), row.n);
    for (const report of result.reports) {
      assert.equal(sum(report.funnel.stages), report.funnel.cases, `day ${report.day}`);
    }
  });

  await t.step("messages by status sum to the book's messages", async () => {
    const [row] = await sql`
      select count(*)::int as n from public.messages
       where customer_id = any(${customerIds()}::uuid[])`;
    assert.ok(row.n > policies / 2, `the cadence and the offers sent (${row.n})`);
    assert.equal(result.final.messages, row.n);
    assert.equal(sum(result.final.statuses), row.n);
    for (const report of result.reports) {
      assert.equal(sum(report.funnel.statuses), report.funnel.messages, `day ${report.day}`);
    }
    // Read receipts came back from WhatsApp, bounces from SES.
    assert.ok((result.final.statuses.read ?? 0) > 0, "read");
    assert.ok((result.final.statuses.undeliverable ?? 0) > 0, "undeliverable (bounces)");
    // No SMS reached an invalid number (refused by Twilio, then suppressed) and no email a
    // bouncing address; their customers were reached on another channel, if at all.
    const invalid = (persona: string) =>
      result.book.customers.filter((c) => c.persona === persona).map((c) => c.customerId);
    const [reached] = await sql`
      select count(*) filter (where customer_id = any(${invalid("invalid_number")}::uuid[])
                                and channel = 'sms')::int as sms,
             count(*) filter (where customer_id = any(${invalid("bouncing_email")}::uuid[])
                                and channel = 'email')::int as email
        from public.messages
       where status in ('delivered', 'read')`;
    assert.deepEqual(reached, { sms: 0, email: 0 });
  });

  await t.step("the premium collected is what the customers paid through the sandbox", async () => {
    assert.ok(result.payments.length > 0, "prompt payers paid on day 1");
    const paid = result.payments.reduce((n, p) => n + p.amount, 0);
    assert.equal(result.final.payments, result.payments.length);
    assert.equal(result.final.collectedPaise, paid);
    const [row] = await sql`
      select count(*)::int as n, coalesce(sum(p.amount), 0)::bigint as paise
        from public.payments p join public.renewal_cases c on c.id = p.case_id
       where c.customer_id = any(${customerIds()}::uuid[]) and p.status = 'captured'`;
    assert.equal(row.n, result.payments.length);
    assert.equal(Number(row.paise), paid);
    // Each payer's case is renewed.
    const [renewed] = await sql`
      select count(*)::int as n from public.renewal_cases
       where id = any(${result.payments.map((p) => p.caseId)}::uuid[]) and stage = 'renewed'`;
    assert.equal(renewed.n, result.payments.length);
  });

  await t.step("the spend is the billed messages' costs, each one a vendor accepted", async () => {
    const rows = await sql<{
      id: string;
      provider: string | null;
      status: string;
      cost: string | null;
      estimate: string | null;
    }[]>`
      select id, provider, status::text, cost_paise as cost, estimated_cost_paise as estimate
        from public.messages where customer_id = any(${customerIds()}::uuid[])`;
    const billed = rows.filter((m) => (billedStatuses as readonly string[]).includes(m.status));
    const perVendor: Record<string, number> = {};
    for (const m of billed) {
      perVendor[m.provider!] = (perVendor[m.provider!] ?? 0) + Number(m.cost ?? m.estimate ?? 0);
    }
    assert.deepEqual(Object.keys(result.final.spendPaise).sort(), Object.keys(perVendor).sort());
    for (const [vendor, paise] of Object.entries(perVendor)) {
      assert.ok(Math.abs(result.final.spendPaise[vendor] - paise) < 1e-6, vendor);
    }
    assert.ok(result.final.spendPaise.whatsapp_cloud > 0, "WhatsApp spend");
    // What the vendors accepted for the book is exactly what is billed.
    const ours = new Set(rows.map((m) => m.id));
    const accepted: string[] = [];
    for (const vendor of ["whatsapp_cloud", "twilio", "aws_sns", "aws_ses", "sendgrid"]) {
      const requests = await acceptedBy(vendor);
      accepted.push(...requests.map((r) => r.ourId ?? "").filter((id) => ours.has(id)));
    }
    assert.deepEqual([...accepted].sort(), billed.map((m) => m.id).sort());
  });

  await t.step("the outage day failed over to SNS, and nothing was sent twice", async () => {
    const accepted: string[] = [];
    const ours = new Set(customerIds());
    const bookMessages = new Set(
      (await sql`select id from public.messages where customer_id = any(${[...ours]}::uuid[])`)
        .map((m) => m.id as string),
    );
    for (const vendor of ["whatsapp_cloud", "twilio", "aws_sns", "aws_ses", "sendgrid"]) {
      const requests = await acceptedBy(vendor);
      accepted.push(...requests.map((r) => r.ourId ?? "").filter((id) => bookMessages.has(id)));
    }
    assert.equal(new Set(accepted).size, accepted.length, "each message accepted once");
    const [sms] = await sql`
      select count(*) filter (where provider = 'aws_sns')::int as sns,
             count(*) filter (where provider = 'aws_sns' and last_error_code is not null)::int
               as after_twilio
        from public.messages
       where customer_id = any(${[...ours]}::uuid[]) and channel = 'sms'
         and status = any(${billedStatuses as unknown as string[]}::public.message_status[])`;
    assert.ok(sms.sns > 0, "SMS went by SNS on the outage day");
    // Some after failing on Twilio (retried, then switched), the rest straight to SNS while
    // Twilio's breaker was open.
    assert.ok(sms.after_twilio > 0, "SNS sends after Twilio's failures");
    const [breaker] = await sql`
      select count(*)::int as n from public.provider_breaker_events
       where provider = 'twilio' and breaker = 'open' and at >= ${result.startedAt}`;
    assert.ok(breaker.n > 0, "Twilio's breaker opened");
  });

  await t.step("the STOP persona gets no marketing after its reply", async () => {
    assert.ok(result.stops.length > 0, "stoppers replied STOP to the first offer");
    assert.ok(result.stops.every((s) => s.day === 1));
    const stoppers = result.stops.map((s) => s.customerId);
    const after = await sql`
      select m.customer_id, m.status::text, m.blocked_reason
        from public.messages m
       where m.customer_id = any(${stoppers}::uuid[]) and m.purpose = 'marketing'
         and m.campaign_id = ${result.campaigns[1].id}`;
    assert.ok(after.length > 0, "the day-3 offer addressed the stoppers");
    for (const m of after) {
      assert.equal(m.status, "blocked", `customer ${m.customer_id}`);
    }
    const [sent] = await sql`
      select count(*)::int as n from public.messages m
       where m.customer_id = any(${stoppers}::uuid[]) and m.purpose = 'marketing'
         and m.status not in ('blocked', 'cancelled')
         and m.created_at > (select min(k.recorded_at) from public.consents k
                              where k.customer_id = m.customer_id and k.channel = 'whatsapp'
                                and k.purpose = 'marketing' and k.status = 'withdrawn')`;
    assert.equal(sent.n, 0);
    // The same offer reached readers, who did not stop.
    const readers = result.book.customers.filter((c) => c.persona === "reader")
      .map((c) => c.customerId);
    const [reached] = await sql`
      select count(*)::int as n from public.messages
       where customer_id = any(${readers}::uuid[]) and campaign_id = ${result.campaigns[1].id}
         and status in ('delivered', 'read')`;
    assert.ok(reached.n > 0, "readers got the day-3 offer");
  });
}
