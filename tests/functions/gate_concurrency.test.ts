// The gate under concurrency: two batches enqueueing for one customer at once share the
// customer's frequency cap (migration serialize_capped_enqueues_per_customer). The second waits
// on the customer's row until the first commits, then counts its message.
import assert from "node:assert/strict";
import postgres from "postgres";
import { adminDbUrl, adminSql, createCase, dbTest } from "./_helpers.ts";

dbTest("gate: concurrent batches for one customer share its frequency cap", async () => {
  const sql = adminSql();
  const [{ value: caps }] = await sql`
    select value from public.app_settings where key = 'MESSAGE_FREQUENCY_CAPS'`;
  await sql`update public.app_settings set value = '{"marketing": {"max": 1, "days": 7}}'
             where key = 'MESSAGE_FREQUENCY_CAPS'`;
  const other = postgres(adminDbUrl(), { max: 1, onnotice: () => {} });
  try {
    const tag = crypto.randomUUID();
    const { customerId } = await createCase("farah.agent@py360.test", {
      email: `cap-${tag}@example.test`,
    });
    await sql`insert into public.consents (customer_id, channel, purpose, status, source)
              values (${customerId}, 'email', 'marketing', 'granted', 'web_form')`;
    const offer = (n: number) => ({
      customer_id: customerId,
      channel: "email",
      purpose: "marketing",
      subject: "Renew with us",
      body: "Renew before your policy expires and keep your no-claim bonus.",
      idempotency_key: `cap-race-${tag}-${n}`,
    });
    let second: Promise<{ status: string; blocked_reason: string | null }[]> | undefined;
    await sql.begin(async (tx) => {
      const [first] = await tx<{ status: string; blocked_reason: string | null }[]>`
        select e.status::text, e.blocked_reason
          from private.enqueue_messages(${tx.json(offer(1))}, now()) e`;
      assert.deepEqual(first, { status: "queued", blocked_reason: null });
      // The other connection's batch starts while the first is not committed yet.
      second = other<{ status: string; blocked_reason: string | null }[]>`
        select e.status::text, e.blocked_reason
          from private.enqueue_messages(${other.json(offer(2))}, now()) e`.execute();
      // Until it waits on a lock (or, were it not to wait, 3 s: it has then answered already).
      const until = Date.now() + 3_000;
      for (let waiting = 0; waiting === 0 && Date.now() < until;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        [{ waiting }] = await sql<{ waiting: number }[]>`
          select count(*)::int as waiting from pg_stat_activity
           where wait_event_type = 'Lock' and query like '%enqueue_messages%'`;
      }
    });
    const [row] = await second!;
    assert.deepEqual(row, { status: "blocked", blocked_reason: "frequency_cap" });
  } finally {
    await other.end();
    await sql`update public.app_settings set value = ${sql.json(caps)}
               where key = 'MESSAGE_FREQUENCY_CAPS'`;
  }
});
