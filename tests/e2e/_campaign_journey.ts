// The campaign journey's book and tallies (tests/e2e/campaign_ab_flow.test.ts): a city of its
// own with `size` customers, each with one open motor or health policy and its renewal case held
// by a Connaught Place agent, as an insurer's policy feed lands them (bulk SQL as the
// superuser); the campaign's templates; the operator's settings the journey needs for the day;
// and what the outbox holds for a campaign, counted per step and status.
import type postgres from "postgres";
import { holdProviderRates } from "./_stack.ts";

/** The Connaught Place branch's manager (seed/00_org.sql), who runs the campaign. */
export const cpManager = "cp.manager@py360.test";
/** An agent of that branch: no campaigns for agents. */
export const cpAgent = "farah.agent@py360.test";
/** The agents whose cases the book's customers have (Connaught Place, seed/00_org.sql). */
const cpAgents = ["farah.agent@py360.test", "arjun.agent@py360.test"];

/** The journey's templates: two WhatsApp variants (service, utility) and the SMS follow-up. */
export interface CampaignTemplates {
  /** Template codes, also the WhatsApp names approved in the sandbox's registry. */
  a: string;
  b: string;
  sms: string;
}

/** The book as made, with the gate's expected answers derived from how it was made. */
export interface CampaignBook {
  /** The customers' city: the campaign's audience filter (nobody else lives there). */
  city: string;
  /** Customers made, one open case each. */
  size: number;
  templates: CampaignTemplates;
  /** First-step (WhatsApp) messages the gate must block, per reason. */
  blockedFirst: Record<string, number>;
  /** Customers with no phone at all: their SMS step is blocked too (no_address). */
  withoutPhone: number;
  /** Due dates of the cases (IST dates), inclusive. */
  dueFrom: string;
  dueTo: string;
}

/**
 * Makes the book in one transaction. Customer n (1..size): a phone `+917<3 digits><6 digits>`
 * unless n % 100 = 0 (no_address on every channel); an email; English; WhatsApp service consent
 * granted unless n % 20 = 0 (whatsapp_not_opted_in, where they have a phone); SMS service
 * consent granted when they have a phone. Policies motor (odd n) or health (even n), premiums
 * Rs 12,000 to Rs 42,000, ending 30 + n % 10 days after IST today; the case `new`, held by the
 * policy's agent. The templates: `e2e_ab_a_<tag>` / `e2e_ab_b_<tag>` on WhatsApp (three body
 * parameters each) and `e2e_ab_sms_<tag>` on SMS with its DLT registration.
 */
export async function makeCampaignBook(
  sql: postgres.Sql,
  { size, tag }: { size: number; tag: string },
): Promise<CampaignBook> {
  const city = `E2E Campaign City ${tag}`;
  const templates: CampaignTemplates = {
    a: `e2e_ab_a_${tag}`,
    b: `e2e_ab_b_${tag}`,
    sms: `e2e_ab_sms_${tag}`,
  };
  // Three digits of the tag's hash keep this run's numbers apart from other runs' and files'.
  const block = String(
    [...tag].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 1000, 7),
  ).padStart(3, "0");
  const range = await sql.begin(async (tx) => {
    await tx`
      insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                                    whatsapp_category, whatsapp_status, whatsapp_parameter_count)
      values (${templates.a}, 'whatsapp', 'en', 'service',
              'Hi {{customer_name}}, your policy {{policy_number}} expires on {{expiry_date}}. ' ||
              'Renew it to stay covered.', ${templates.a}, 'utility', 'approved', 3),
             (${templates.b}, 'whatsapp', 'en', 'service',
              '{{customer_name}}, {{policy_number}} is due on {{expiry_date}}. Reply to talk ' ||
              'to your agent.', ${templates.b}, 'utility', 'approved', 3)`;
    await tx`
      insert into public.templates (code, channel, language, purpose, body, dlt_entity_id,
                                    dlt_header, dlt_template_id, dlt_text)
      values (${templates.sms}, 'sms', 'en', 'service', 'Renew {{policy_number}} -PYRNWL',
              '1101234567890123456', 'PYRNWL', '1107123456789012399', 'Renew {#var#} -PYRNWL')`;
    await tx`
      create temporary table e2e_campaign_book on commit drop as
      select g as n, gen_random_uuid() as customer_id, gen_random_uuid() as policy_id
        from generate_series(1, ${size}::int) g`;
    await tx`
      insert into public.customers (id, full_name, phone, email, language, city)
      select b.customer_id, 'Campaign Journey ' || ${tag} || ' ' || b.n,
             case when b.n % 100 <> 0 then '+917' || ${block} || lpad(b.n::text, 6, '0') end,
             'ab' || b.n || '.' || lower(${tag}) || '@e2e.py360.test', 'en', ${city}
        from pg_temp.e2e_campaign_book b`;
    await tx`
      insert into public.policies (id, policy_number, product_line, insurer, customer_id,
                                   agent_id, premium, sum_insured, start_date, end_date)
      select b.policy_id, 'E2EAB/' || ${tag} || '/' || b.n,
             case when b.n % 2 = 1 then 'motor' else 'health' end::public.product_line,
             'Journey General', b.customer_id, a.ids[1 + b.n % 2],
             1200000 + (b.n * 7919) % 3000000, 60000000, x.ends - 365, x.ends
        from pg_temp.e2e_campaign_book b
       cross join (select array_agg(p.id order by p.email) as ids
                     from public.profiles p where p.email = any (${cpAgents})) a
       cross join lateral (
         select private.business_date(now()) + 30 + b.n % 10 as ends) x`;
    await tx`
      insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
      select p.id, p.customer_id, p.agent_id, p.end_date, p.end_date
        from pg_temp.e2e_campaign_book b join public.policies p on p.id = b.policy_id`;
    // One statement for both channels: the consent ledger and the audit run once.
    await tx`
      insert into public.consents (customer_id, channel, purpose, status, source)
      select b.customer_id, c.channel, 'service', 'granted', 'import'
        from pg_temp.e2e_campaign_book b
       cross join (values ('whatsapp'::public.channel_type), ('sms')) c (channel)
       where (c.channel = 'whatsapp' and b.n % 20 <> 0)
          or (c.channel = 'sms' and b.n % 100 <> 0)`;
    const [row] = await tx<{ due_from: string; due_to: string }[]>`
      select min(p.end_date)::text as due_from, max(p.end_date)::text as due_to
        from pg_temp.e2e_campaign_book b join public.policies p on p.id = b.policy_id`;
    return row;
  });
  await sql`analyze public.customers, public.policies, public.renewal_cases, public.consents`;
  const count = (predicate: (n: number) => boolean) => {
    let total = 0;
    for (let n = 1; n <= size; n++) if (predicate(n)) total++;
    return total;
  };
  const withoutPhone = count((n) => n % 100 === 0);
  return {
    city,
    size,
    templates,
    // In the gate's order of reasons: no address before the WhatsApp opt-in.
    blockedFirst: {
      no_address: withoutPhone,
      whatsapp_not_opted_in: count((n) => n % 100 !== 0 && n % 20 === 0),
    },
    withoutPhone,
    dueFrom: range.due_from,
    dueTo: range.due_to,
  };
}

/**
 * Sets what the journey needs of the operator's configuration, and returns how to put it back:
 * the WhatsApp and SMS providers' shared rate limits (provider_state.rate_per_second, 80 and 100
 * a second by default) at `ratePerSecond`: a number on a high Meta throughput tier, so that
 * 10,000 sends are not a two-minute wait on the token bucket. (The send hours are held open for
 * every journey by journey() in _stack.ts: the API launches at the real now(), so a service
 * campaign launched in the evening would otherwise wait for 08:00 IST.)
 */
export function tuneForJourney(
  { ratePerSecond }: { ratePerSecond: number },
): Promise<() => Promise<void>> {
  return holdProviderRates(ratePerSecond, ["whatsapp_cloud", "twilio"]);
}

/** One step of a campaign's messages by status (`step` from the key campaign:<id>:<c>:<step>). */
export interface StepTally {
  step: number;
  total: number;
  byStatus: Record<string, number>;
  /** Sent at all (sent_at set): what reached a vendor. */
  sent: number;
  read: number;
}

/** The campaign's messages per flow step, counted by status. */
export async function tallyMessages(sql: postgres.Sql, campaignId: string): Promise<StepTally[]> {
  const rows = await sql<
    { step: number; status: string; n: number; sent: number; read: number }[]
  >`
    select split_part(m.idempotency_key, ':', 4)::int as step, m.status::text as status,
           count(*)::int as n, count(m.sent_at)::int as sent, count(m.read_at)::int as read
      from public.messages m
     where m.campaign_id = ${campaignId}
     group by 1, 2
     order by 1, 2`;
  const steps = new Map<number, StepTally>();
  for (const row of rows) {
    const tally = steps.get(row.step) ??
      { step: row.step, total: 0, byStatus: {}, sent: 0, read: 0 };
    tally.total += row.n;
    tally.byStatus[row.status] = row.n;
    tally.sent += row.sent;
    tally.read += row.read;
    steps.set(row.step, tally);
  }
  return [...steps.values()];
}

/** The tally of one step, with zeros when the campaign has no message at that step. */
export function stepOf(tallies: StepTally[], step: number): StepTally {
  return tallies.find((t) => t.step === step) ??
    { step, total: 0, byStatus: {}, sent: 0, read: 0 };
}
