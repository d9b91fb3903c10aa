// Fixtures of the withdrawal-link tests: a customer with granted marketing consents, a marketing
// message sent to them, and its link's token as the gate mints it.
import { adminSql, createCase } from "./_helpers.ts";

/** A customer with marketing granted on every channel, a marketing email sent, and its token. */
export interface LinkFixture {
  customerId: string;
  messageId: string;
  token: string;
}

/** Marketing granted on every channel (with evidence) for the customer. */
export async function grantMarketing(customerId: string): Promise<void> {
  await adminSql()`
    insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence)
    select ${customerId}, ch, 'marketing', 'granted', 'web_form', '{"form": "T-1"}'
      from unnest(enum_range(null::public.channel_type)) ch`;
}

/** A fresh customer of `agentEmail` (language `language`) with a sent marketing email and its
 * withdrawal token (private.consent_link_url, the current key, CONSENT_LINK_DAYS). */
export async function linkFixture(
  agentEmail = "farah.agent@py360.test",
  language = "en",
): Promise<LinkFixture> {
  const { customerId } = await createCase(agentEmail);
  const sql = adminSql();
  await sql`update public.customers
               set language = ${language}, email = ${`c${customerId.slice(0, 8)}@links.py360.test`}
             where id = ${customerId}`;
  await grantMarketing(customerId);
  const [message] = await sql`
    insert into public.messages (customer_id, channel, purpose, body, idempotency_key, status)
    values (${customerId}, 'email', 'marketing', 'An offer', ${`test:${crypto.randomUUID()}`}, 'sent')
    returning id, private.consent_link_url(id) as url`;
  return {
    customerId,
    messageId: message.id,
    token: (message.url as string).split("/w/")[1],
  };
}

/** The customer's marketing consents as "channel:status:source", by channel. */
export async function marketingState(customerId: string): Promise<string[]> {
  const rows = await adminSql()`
    select channel, status, source from public.consents
     where customer_id = ${customerId} and purpose = 'marketing' order by channel`;
  return rows.map((r) => `${r.channel}:${r.status}:${r.source}`);
}

/** How many ledger rows the customer has. */
export async function ledgerSize(customerId: string): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from public.consent_ledger where customer_id = ${customerId}`;
  return row.n;
}

/** `token` with the character at `at` changed (a tampered link). */
export function tamper(token: string, at: number): string {
  return token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
}
