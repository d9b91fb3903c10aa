// The campaigns benchmark's book (bench/campaigns.ts): customers with one open renewal case each,
// most of them in the North zone of the demo organisation (seed/00_org.sql, which must be
// applied first), the rest in the South zone where a North campaign must not reach; consents in
// a realistic mix, so the gate blocks some; and two WhatsApp templates (the A/B variants) in
// English and Hindi. Made in bulk as the superuser, before any timing.
import type postgres from "postgres";

/** The North zone's manager (seed/00_org.sql), who runs the campaign. */
export const zoneManager = {
  id: "20000000-0000-4000-8000-000000000003",
  email: "north.manager@py360.test",
  /** The zone the manager manages: the campaign's scope. */
  zoneCode: "NORTH",
};

/** Agents who hold the cases (seed/00_org.sql): in the North zone, and in the South. */
const northAgents = [
  "20000000-0000-4000-8000-000000000011",
  "20000000-0000-4000-8000-000000000012",
  "20000000-0000-4000-8000-000000000013",
  "20000000-0000-4000-8000-000000000014",
];
const southAgents = [
  "20000000-0000-4000-8000-000000000015",
  "20000000-0000-4000-8000-000000000016",
];

/** The variants' template codes (each WhatsApp, service, utility, approved, in en and hi). */
export const variantTemplates = { A: "bench_renewal_a", B: "bench_renewal_b" } as const;

/** What the book holds, to print beside the figures. */
export interface CampaignBook {
  /** Customers (one open case each) in the campaign's zone. */
  inScope: number;
  /** Customers (one open case each) in another zone, whom the campaign must leave out. */
  outOfScope: number;
  /** How many of the in-scope customers the gate should block, by reason, as the book is made. */
  expectedBlocked: Record<string, number>;
  /** The first and last due date of the cases (ISO dates, IST business days). */
  dueFrom: string;
  dueTo: string;
}

/**
 * Builds the book in one transaction: `inScope` customers whose cases North agents hold and
 * `outOfScope` more held by South agents. Customer n (1-based, the North ones first) has:
 * a phone unless n % 50 = 0 (2 %: no_address on WhatsApp); an email unless n % 20 = 3; Hindi
 * when n % 10 < 3, else English; a preferred channel in turn (WhatsApp, SMS, email, none);
 * WhatsApp service consent granted unless n % 10 = 0 (those are whatsapp_not_opted_in) or
 * withdrawn (a STOP reply: consent_withdrawn) when n % 100 = 5; SMS service consent granted
 * when they have a phone, email when they have an email. Policies: motor, health, life and home
 * in a 5:3:1:1 mix, premiums from Rs 4,000 to Rs 64,000, NCB on motor; expiring 1 to 60 days
 * after `today`; the case open (`new`) with the policy's agent. Autovacuum off for the outbox
 * and the recipients (the bench analyzes them itself). Returns what was made.
 */
export async function prepareCampaignBook(
  sql: postgres.Sql,
  { inScope, outOfScope, today }: { inScope: number; outOfScope: number; today: string },
): Promise<CampaignBook> {
  const total = inScope + outOfScope;
  await sql.begin(async (tx) => {
    await tx`create schema if not exists bench`;
    await tx`
      create table bench.book as
      select g as n, gen_random_uuid() as customer_id, gen_random_uuid() as policy_id,
             gen_random_uuid() as case_id, g > ${inScope}::int as outside
        from generate_series(1, ${total}::int) g`;
    await tx`
      insert into public.customers (id, full_name, phone, email, language, preferred_channel, city)
      select b.customer_id, 'Bench Customer ' || b.n,
             case when b.n % 50 <> 0 then '+9198' || lpad(b.n::text, 8, '0') end,
             case when b.n % 20 <> 3 then 'customer' || b.n || '@bench.py360.test' end,
             case when b.n % 10 < 3 then 'hi' else 'en' end,
             (array['whatsapp', 'sms', 'email', null])[1 + b.n % 4]::public.channel_type,
             case when b.outside then (array['Bengaluru', 'Chennai', 'Mysuru'])[1 + b.n % 3]
                  else (array['Delhi', 'Gurugram', 'Noida', 'Faridabad', 'Ghaziabad'])[1 + b.n % 5]
             end
        from bench.book b`;
    await tx`
      insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, ncb_percent)
      select b.policy_id, 'BENCH/CMP/' || b.n, x.line, 'Bench General', b.customer_id,
             case when b.outside then (${southAgents}::uuid[])[1 + b.n % 2]
                  else (${northAgents}::uuid[])[1 + b.n % 4] end,
             400000 + (b.n * 7919) % 6000000, 50000000,
             x.ends - 365, x.ends,
             case when x.line = 'motor' then (array[0, 20, 25, 35, 45, 50])[1 + b.n % 6] else 0 end
        from bench.book b
       cross join lateral (
         select (array['motor', 'motor', 'motor', 'motor', 'motor', 'health', 'health',
                       'health', 'life', 'home'])[1 + b.n % 10]::public.product_line as line,
                ${today}::date + 1 + b.n % 60 as ends) x`;
    await tx`
      insert into public.renewal_cases (id, policy_id, customer_id, assignee_id, due_date, grace_end)
      select b.case_id, p.id, p.customer_id, p.agent_id, p.end_date, p.end_date + 30
        from bench.book b join public.policies p on p.id = b.policy_id`;
    await tx`
      insert into public.consents (customer_id, channel, purpose, status, source)
      select b.customer_id, 'whatsapp', 'service',
             case when b.n % 100 = 5 then 'withdrawn' else 'granted' end::public.consent_status,
             case when b.n % 100 = 5 then 'whatsapp_reply' else 'import' end
        from bench.book b
       where b.n % 10 <> 0 or b.n % 100 = 5`;
    await tx`
      insert into public.consents (customer_id, channel, purpose, status, source)
      select b.customer_id, c.channel, 'service', 'granted', 'import'
        from bench.book b
       cross join (values ('sms'::public.channel_type), ('email')) c (channel)
       where (c.channel = 'sms' and b.n % 50 <> 0) or (c.channel = 'email' and b.n % 20 <> 3)`;
    const body = {
      A: {
        en: "Hi {{customer_name}}, your policy {{policy_number}} expires on {{expiry_date}}. " +
          "Renew it now for {{premium}} and stay covered.",
        hi: "नमस्ते {{customer_name}}, आपकी पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो " +
          "रही है। {{premium}} में अभी नवीनीकरण करें।",
      },
      B: {
        en: "{{customer_name}}, {{policy_number}} is due on {{expiry_date}}: {{premium}}. " +
          "Reply to talk to your agent.",
        hi: "{{customer_name}}, {{policy_number}} की देय तिथि {{expiry_date}} है: {{premium}}। " +
          "अपने एजेंट से बात करने के लिए जवाब दें।",
      },
    };
    for (const [variant, code] of Object.entries(variantTemplates)) {
      for (const language of ["en", "hi"] as const) {
        await tx`
          insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                                        whatsapp_category, whatsapp_status,
                                        whatsapp_parameter_count)
          values (${code}, 'whatsapp', ${language}, 'service',
                  ${body[variant as keyof typeof body][language]}, ${code}, 'utility',
                  'approved', 4)`;
      }
    }
  });
  // The runs keep the statistics of the outbox and the recipients themselves (CampaignBench.
  // freshState), so that autovacuum cannot leave them saying "empty" at a random moment.
  await sql`alter table public.messages set (autovacuum_enabled = false)`;
  await sql`alter table public.campaign_recipients set (autovacuum_enabled = false)`;
  await sql`analyze`;
  const inside = (predicate: (n: number) => boolean) => {
    let count = 0;
    for (let n = 1; n <= inScope; n++) if (predicate(n)) count++;
    return count;
  };
  // In the gate's order of reasons (private.message_block_reason): no address first.
  const expectedBlocked = Object.fromEntries(
    Object.entries({
      no_address: inside((n) => n % 50 === 0),
      consent_withdrawn: inside((n) => n % 50 !== 0 && n % 100 === 5),
      whatsapp_not_opted_in: inside((n) => n % 50 !== 0 && n % 100 !== 5 && n % 10 === 0),
    }).filter(([, count]) => count > 0),
  );
  const [range] = await sql`
    select min(due_date)::text as due_from, max(due_date)::text as due_to
      from public.renewal_cases`;
  return {
    inScope,
    outOfScope,
    expectedBlocked,
    dueFrom: range.due_from,
    dueTo: range.due_to,
  };
}
