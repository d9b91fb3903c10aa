// A campaign's cancel, pause or resume against a dispatcher's write to its messages (issue 9's
// fifth review, migration 20261201082435): a failed WhatsApp message's SMS twin, and a message
// handed back, share-lock their campaign, so a cancel or pause waits for them and then cancels or
// holds the twins, and a resume waits for a hand-back and then releases it. Two real connections.
import assert from "node:assert/strict";
import postgres from "postgres";
import { adminSql, createCase, dbTest } from "./_helpers.ts";
import { firstThenSecond, namedConnection } from "./_concurrency.ts";

const cpManager = "cp.manager@py360.test";
const farah = "farah.agent@py360.test";

/**
 * A running campaign of cp.manager's over `customers` new customers of farah's (a city of their
 * own), its messages queued on `channel` and then claimed by worker `w`, as a dispatcher does.
 */
async function claimedCampaign(channel: "whatsapp" | "email", customers: number): Promise<string> {
  const sql = adminSql();
  const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
  const code = `race_${tag}`;
  await sql`
    insert into public.templates (code, channel, purpose, subject, body, whatsapp_name,
                                  whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                                  dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
    values (${code}, ${channel}, 'service', ${channel === "email" ? "Renew" : null},
            'Hi {{customer_name}}, renew {{policy_number}}',
            ${channel === "whatsapp" ? code : null}, ${channel === "whatsapp" ? "utility" : null},
            ${channel === "whatsapp" ? "approved" : null}, ${channel === "whatsapp" ? 2 : null},
            null, null, null, null),
           (${code}, 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL', null, null, null,
            null, '1101234567890123456', 'PYRNWL', '1107123456789012393', 'Renew {#var#} -PYRNWL')`;
  const city = `Racepur ${tag}`;
  for (let i = 0; i < customers; i++) {
    await createCase(farah, {
      city,
      phone: "+91987" + String(Math.floor(Math.random() * 1e7)).padStart(7, "0"),
      email: `race${tag}${i}@tests.py360.test`,
      whatsappOptIn: true,
    });
  }
  const [campaign] = await sql`
    insert into public.campaigns (name, scope_node_id, channel, purpose, template_code,
                                  audience_filter, created_by)
    select ${`Race ${tag}`}, p.node_id, ${channel}, 'service', ${code},
           jsonb_build_object('city', ${city}::text), p.id
      from public.profiles p where p.email = ${cpManager}
    returning id`;
  await sql`select private.launch_campaign(${campaign.id}::uuid, now())`;
  await sql`
    update public.messages
       set status = 'sending', locked_by = 'w', attempts = 1, provider_attempts = 1,
           locked_until = now() + interval '5 minutes', sending_at = now(),
           provider = ${channel === "whatsapp" ? "whatsapp_cloud" : "aws_ses"}
     where campaign_id = ${campaign.id} and status = 'queued'`;
  const [{ n }] = await sql`
    select count(*)::int as n from public.messages
     where campaign_id = ${campaign.id} and status = 'sending'`;
  assert.equal(n, customers, "every recipient's message is in a dispatcher's hands");
  return campaign.id;
}

async function managerId(): Promise<string> {
  const [row] = await adminSql()`select id from public.profiles where email = ${cpManager}`;
  return row.id;
}

/** The dispatcher's write first, held open; the manager's action second, which must wait. */
async function race(
  dispatcher: (tx: postgres.TransactionSql) => Promise<unknown>,
  manager: (tx: postgres.TransactionSql) => Promise<unknown>,
) {
  const one = namedConnection("campaign-race-dispatcher");
  const two = namedConnection("campaign-race-manager");
  try {
    await firstThenSecond(
      { sql: one, userId: null, work: dispatcher },
      { sql: two, name: "campaign-race-manager", userId: await managerId(), work: manager },
    );
  } finally {
    await one.end();
    await two.end();
  }
}

const refuseOnWhatsApp = (id: string) => (tx: postgres.TransactionSql) =>
  tx`select private.record_send_results('w', (
       select jsonb_agg(jsonb_build_object('id', m.id, 'attempt', m.attempts, 'ok', false,
                                           'disposition', 'fallback', 'code', '131047',
                                           'message', 'Re-engagement message'))
         from public.messages m
        where m.campaign_id = ${id}::uuid and m.channel = 'whatsapp'), now())`;

dbTest(
  "campaign race: cancelled while WhatsApp refusals queue SMS twins, the twins are cancelled",
  async () => {
    const id = await claimedCampaign("whatsapp", 2);
    await race(
      refuseOnWhatsApp(id),
      (tx) => tx`select private.cancel_campaign(${id}::uuid)`,
    );
    const sms = await adminSql()`
    select status::text from public.messages where campaign_id = ${id} and channel = 'sms'`;
    assert.equal(sms.length, 2, "each refused message got its SMS twin");
    assert.deepEqual(
      sms.map((m) => m.status),
      ["cancelled", "cancelled"],
    );
  },
);

dbTest(
  "campaign race: paused while WhatsApp refusals queue SMS twins, the twins are held",
  async () => {
    const id = await claimedCampaign("whatsapp", 2);
    await race(refuseOnWhatsApp(id), (tx) => tx`select private.pause_campaign(${id}::uuid)`);
    const sms = await adminSql()`
    select status::text, next_attempt_at = 'infinity' as held from public.messages
     where campaign_id = ${id} and channel = 'sms'`;
    assert.equal(sms.length, 2);
    for (const m of sms) assert.deepEqual({ ...m }, { status: "queued", held: true });
  },
);

dbTest(
  "campaign race: resumed while a message is handed back, the message is released",
  async () => {
    const id = await claimedCampaign("email", 1);
    await adminSql()`select private.pause_campaign(${id}::uuid, now())`;
    await race(
      (tx) =>
        tx`select private.release_messages('w', array(
           select m.id from public.messages m where m.campaign_id = ${id}::uuid), now(), now())`,
      (tx) => tx`select private.resume_campaign(${id}::uuid)`,
    );
    const [message] = await adminSql()`
    select m.status::text, m.next_attempt_at = 'infinity' as held, c.status::text as campaign
      from public.messages m join public.campaigns c on c.id = m.campaign_id
     where m.campaign_id = ${id}`;
    assert.deepEqual({ ...message }, { status: "queued", held: false, campaign: "running" });
  },
);
