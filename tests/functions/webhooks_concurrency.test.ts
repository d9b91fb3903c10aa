// Callbacks for one message arriving together (a vendor's duplicates, statuses racing each other,
// a SendGrid batch beside a single event): every one is answered 2xx and stored once, and the
// message ends at the furthest status. Two such calls used to deadlock in
// private.record_message_events (migration 20261129012400). Deliveries arriving together share
// one statement, and a delivery the database refuses fails alone.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { createWebhooksApp } from "../../functions/webhooks/app.ts";
import { recordEvents, type VendorEvent } from "../../functions/webhooks/events.ts";
import { twilioSignature } from "../../sandbox/sign.ts";
import { adminSql, createCase, dbTest } from "./_helpers.ts";
import { createTemplate, enqueue, setMessages } from "./_messaging.ts";

const env = {
  FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
  TWILIO_ACCOUNT_SID: `AC${"1".repeat(32)}`,
  TWILIO_AUTH_TOKEN: "concurrency-test-token",
  PUBLIC_FUNCTIONS_URL: "http://127.0.0.1:9/functions/v1",
};
const config = parseConfig(env);
const app = createWebhooksApp({ config: () => config });

dbTest("webhooks: 24 callbacks for one message at once — all taken, none deadlocked", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const [id] = await enqueue([{ customer_id: customerId, template_code: code }]);
  await setMessages([id], {
    status: "sent",
    provider: "twilio",
    provider_message_id: "SMconcurrency",
    sent_at: new Date(),
  });
  const statuses = ["sent", "delivered", "read"];
  const requests = await Promise.all(Array.from({ length: 24 }, async (_, n) => {
    const params = {
      MessageSid: `SMconcurrency${n}`,
      MessageStatus: statuses[n % 3],
      To: "+919900000000",
      AccountSid: env.TWILIO_ACCOUNT_SID,
    };
    const url = `${env.PUBLIC_FUNCTIONS_URL}/webhooks/twilio?message_id=${id}`;
    return new Request(`http://127.0.0.1/webhooks/twilio?message_id=${id}`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": await twilioSignature(env.TWILIO_AUTH_TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
  }));
  const answers = await Promise.all(requests.map((request) => app.fetch(request)));
  assert.deepEqual([...new Set(answers.map((answer) => answer.status))], [204]);
  const [row] = await adminSql()`
    select m.status::text, (select count(*)::int from public.message_events e
                             where e.message_id = m.id) as events
      from public.messages m where m.id = ${id}`;
  assert.deepEqual(row, { status: "read", events: 24 });
});

dbTest("webhooks: deliveries arriving together share a call; a bad one fails alone", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const tag = crypto.randomUUID().slice(0, 8);
  const ids = await enqueue(Array.from({ length: 40 }, (_, n) => ({
    customer_id: customerId,
    template_code: code,
    idempotency_key: `batched-${tag}-${n}`,
  })));
  await setMessages(ids, { status: "sent", provider: "twilio", sent_at: new Date() });
  const delivery = (id: string, n: number): VendorEvent[] => [{
    event_key: `SMbatch${tag}${n}:delivered`,
    kind: "status",
    message_id: id,
    provider_message_id: `SMbatch${tag}${n}`,
    status: "delivered",
    vendor_status: "delivered",
    payload: { n },
  }];
  // 30 at once: all recorded, and some in a shared call (its counts cover several deliveries).
  const first = await Promise.all(
    ids.slice(0, 30).map((id, n) => recordEvents("twilio", delivery(id, n))),
  );
  const received = first.map((result) => result.received);
  assert.ok(Math.max(...received) > 1, `some deliveries shared a call (received ${received})`);
  // 10 more with one the database refuses (a time it cannot read): only that one fails.
  const bad: VendorEvent[] = [{ ...delivery(ids[0], 99)[0], occurred_at: "yesterday-ish" }];
  const second = await Promise.allSettled([
    ...ids.slice(30).map((id, n) => recordEvents("twilio", delivery(id, 30 + n))),
    recordEvents("twilio", bad),
  ]);
  assert.deepEqual(second.map((outcome) => outcome.status), [
    ...Array(10).fill("fulfilled"),
    "rejected",
  ]);
  const rows = await adminSql()`
    select m.status::text as status, count(e.id)::int as events
      from public.messages m left join public.message_events e on e.message_id = m.id
     where m.id = any (${ids}::uuid[])
     group by m.id, m.status`;
  assert.equal(rows.length, 40);
  assert.deepEqual([...new Set(rows.map((row) => `${row.status}/${row.events}`))], ["delivered/1"]);
});
