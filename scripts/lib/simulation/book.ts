// The simulated desk's book, written as an insurer's policy feed would write it: customers (one
// persona each), their consents, and one policy each whose expiry falls in the simulated month
// or within the ladder's reach after it; and the WhatsApp and SMS variants of the ladder's
// templates (the business's approved WhatsApp names and DLT registrations, which the migrations
// leave to the deployment), registered in the sandbox's WhatsApp template registry too.
import type postgres from "postgres";
import { addDays } from "./clock.ts";
import { assignPersonas, type PersonaName, personas } from "./personas.ts";
import { Random } from "./random.ts";

/** What book to write. */
export interface BookOptions {
  /** Policies (one customer each), at least 1. */
  policies: number;
  /** The seed of every draw (personas, dates, premiums). */
  seed: number;
  /** Names the book: policy numbers `<tag>/000001`, customers' city `Sim <tag>`. Letters,
   * digits and dashes. */
  tag: string;
  /** The simulated month's first IST day (YYYY-MM-DD) and its length in days. */
  firstDay: string;
  days: number;
  /** The customers' language (two letters): the ladder's WhatsApp and SMS variants are saved in
   * it (ensureTemplates). */
  language: string;
}

/** One customer of the book with their policy. */
export interface BookCustomer {
  index: number;
  persona: PersonaName;
  customerId: string;
  policyId: string;
  policyNumber: string;
  /** E.164. */
  phone: string;
  email: string;
  productLine: "motor" | "health" | "life" | "home";
  /** Yearly premium, paise. */
  premium: number;
  /** The policy's expiry, IST date. */
  dueDate: string;
  /** Late payers: the IST day they pay, if a link is open by then; null for the others. */
  paysOn: string | null;
}

/** The book as written. */
export interface Book {
  tag: string;
  /** The city every customer of the book has: how queries and campaigns find the book. */
  city: string;
  customers: BookCustomer[];
}

/** The demo agents of seed/00_org.sql under the NORTH zone, who hold the book's policies. */
export const bookAgents = [
  "arjun.agent@py360.test",
  "bhavna.agent@py360.test",
  "farah.agent@py360.test",
  "gopal.agent@py360.test",
];

/** The NORTH zone (seed/00_org.sql): the campaigns' scope. */
export const bookZoneManager = "north.manager@py360.test";

const productLines = [
  { line: "motor", weight: 0.4, premium: [8_000, 40_000], insurers: ["ICICI Lombard", "Tata AIG"] },
  {
    line: "health",
    weight: 0.3,
    premium: [15_000, 60_000],
    insurers: ["Star Health", "Niva Bupa"],
  },
  { line: "life", weight: 0.2, premium: [25_000, 200_000], insurers: ["LIC", "HDFC Life"] },
  { line: "home", weight: 0.1, premium: [3_000, 15_000], insurers: ["New India Assurance"] },
] as const;

/** A number Twilio refuses as invalid (its test credentials' magic `To`, error 21211). */
export const invalidNumber = "+15005550001";

/** Three digits from the tag, so that two books' phone numbers do not meet. */
function tagDigits(tag: string): string {
  let hash = 7;
  for (const char of tag) hash = (hash * 31 + char.charCodeAt(0)) % 1000;
  return String(hash).padStart(3, "0");
}

/**
 * Writes the book into the database (a superuser's connection) and returns it. Expiries are drawn
 * from the month's first day to 60 days after its last, so that on the month's days cases sit on
 * every step of the ladder (-60 ... +30) and next month has its own. Refuses a tag already used
 * (a policy number exists).
 */
export async function loadBook(sql: postgres.Sql, options: BookOptions): Promise<Book> {
  if (!/^[A-Za-z0-9-]{1,20}$/.test(options.tag)) {
    throw new Error("the tag must be 1-20 letters, digits or dashes");
  }
  if (!Number.isInteger(options.policies) || options.policies < 1 || options.policies > 99_999) {
    throw new Error("policies must be a whole number from 1 to 99,999");
  }
  const random = new Random(options.seed);
  const city = `Sim ${options.tag}`;
  const [taken] =
    await sql`select 1 from public.policies where policy_number like ${`${options.tag}/%`} limit 1`;
  if (taken) throw new Error(`a book tagged ${options.tag} is already loaded`);
  const agents = await sql<{ id: string }[]>`
    select id from public.profiles where email = any(${bookAgents}) and active order by email`;
  if (agents.length === 0) throw new Error("the demo agents of seed/00_org.sql are missing");

  const lastDay = addDays(options.firstDay, options.days - 1);
  const spread = Math.round((Date.parse(lastDay) - Date.parse(options.firstDay)) / 86_400_000) + 60;
  const digits = tagDigits(options.tag);
  const assigned = assignPersonas(options.policies, random);
  const rows = assigned.map((name, i) => {
    const persona = personas[name];
    const draw = random.next();
    let cumulative = 0;
    const product = productLines.find((p) => (cumulative += p.weight) > draw) ?? productLines[0];
    const dueDate = addDays(options.firstDay, random.int(0, spread));
    const graceful = product.line === "health" || product.line === "life";
    const paysOn = persona.pays !== "late"
      ? null
      : graceful
      ? addDays(dueDate, random.int(1, 10))
      : addDays(dueDate, -random.pick([7, 3, 1]));
    const index = i + 1;
    return {
      index,
      persona: name,
      full_name: `${random.pick(firstNames)} ${random.pick(lastNames)}`,
      phone: persona.invalidNumber
        ? invalidNumber
        : `+9169${digits}${String(index).padStart(5, "0")}`,
      email: persona.bouncingEmail
        ? `bounce+${options.tag.toLowerCase()}.${index}@mail.py360.test`
        : `sim.${options.tag.toLowerCase()}.${index}@mail.py360.test`,
      preferred: persona.preferred,
      product_line: product.line,
      insurer: random.pick(product.insurers),
      premium: 100 * random.int(product.premium[0], product.premium[1]),
      ncb: product.line === "motor" ? random.pick([0, 20, 25, 35, 45, 50]) : 0,
      due_date: dueDate,
      pays_on: paysOn,
      agent_id: agents[i % agents.length].id,
      policy_number: `${options.tag}/${String(index).padStart(6, "0")}`,
      whatsapp: persona.whatsapp,
      marketing: persona.marketing,
    };
  });

  const written = await sql.begin(async (tx) => {
    const customers = await tx<{ id: string; email: string }[]>`
      insert into public.customers (full_name, phone, email, language, preferred_channel, city,
                                    kyc_verified_on)
      select r.full_name, r.phone, r.email, ${options.language}, r.preferred::public.channel_type,
             ${city},
             current_date - 400
        from jsonb_to_recordset(${tx.json(rows)}::jsonb) as r (full_name text, phone text,
               email text, preferred text)
      returning id, email`;
    const byEmail = new Map(customers.map((c) => [c.email, c.id]));
    const ids = rows.map((r) => byEmail.get(r.email)!);
    const feed = rows.map((r, i) => ({ ...r, customer_id: ids[i] }));
    await tx`
      insert into public.consents (customer_id, channel, purpose, status, source, recorded_at,
                                   evidence)
      select f.customer_id, c.channel, c.purpose, 'granted', 'import', now() - interval '400 days',
             jsonb_build_object('batch', 'simulated-desk')
        from jsonb_to_recordset(${tx.json(feed)}::jsonb) as f (customer_id uuid, whatsapp boolean,
               marketing boolean)
       cross join lateral (values ('sms'::public.channel_type, 'service'::public.consent_purpose, true),
                                  ('email', 'service', true),
                                  ('whatsapp', 'service', f.whatsapp),
                                  ('whatsapp', 'marketing', f.marketing)) as c (channel, purpose, wanted)
       where c.wanted`;
    const policies = await tx<{ id: string; policy_number: string }[]>`
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, ncb_percent)
      select f.policy_number, f.product_line::public.product_line, f.insurer, f.customer_id,
             f.agent_id, f.premium, f.premium * 40, f.due_date - 364, f.due_date, f.ncb
        from jsonb_to_recordset(${tx.json(feed)}::jsonb) as f (policy_number text,
               product_line text, insurer text, customer_id uuid, agent_id uuid, premium bigint,
               due_date date, ncb smallint)
      returning id, policy_number`;
    return { ids, policies: new Map(policies.map((p) => [p.policy_number, p.id])) };
  });

  return {
    tag: options.tag,
    city,
    customers: rows.map((r, i) => ({
      index: r.index,
      persona: r.persona,
      customerId: written.ids[i],
      policyId: written.policies.get(r.policy_number)!,
      policyNumber: r.policy_number,
      phone: r.phone,
      email: r.email,
      productLine: r.product_line,
      premium: r.premium,
      dueDate: r.due_date,
      paysOn: r.pays_on,
    })),
  };
}

/** A WhatsApp and an SMS text of one ladder template. */
interface LadderTemplate {
  code: string;
  whatsapp: string;
  sms: string;
}

/** The ladder's templates (reminder_rules.template_code) on WhatsApp and SMS, in English. */
const ladderTemplates: LadderTemplate[] = [
  {
    code: "renewal_due",
    whatsapp: "Hi {{customer_name}}, your policy {{policy_number}} expires on {{expiry_date}}. " +
      "Renew to stay covered.",
    sms: "Dear {{customer_name}}, policy {{policy_number}} expires on {{expiry_date}}, premium " +
      "{{premium}}. Renew to stay covered. -PYRNWL",
  },
  {
    code: "ncb_at_risk",
    whatsapp: "Hi {{customer_name}}, renew {{policy_number}} by {{ncb_deadline}} to keep your " +
      "{{ncb_percent}}% no-claim bonus.",
    sms: "Renew {{policy_number}} by {{ncb_deadline}} to keep your {{ncb_percent}}% no-claim " +
      "bonus. -PYRNWL",
  },
  {
    code: "health_continuity",
    whatsapp: "Hi {{customer_name}}, renew {{policy_number}} by {{grace_end}} to keep your " +
      "health cover's benefits.",
    sms: "Renew health policy {{policy_number}} by {{grace_end}} to keep its benefits. -PYRNWL",
  },
  {
    code: "life_grace_end",
    whatsapp: "Hi {{customer_name}}, pay {{premium}} for {{policy_number}} by {{grace_end}} or " +
      "the policy lapses.",
    sms: "Pay {{premium}} for life policy {{policy_number}} by {{grace_end}} or it lapses. -PYRNWL",
  },
  {
    code: "renewal_expired",
    whatsapp: "Hi {{customer_name}}, your policy {{policy_number}} expired on {{expiry_date}}. " +
      "Renew now.",
    sms: "Policy {{policy_number}} expired on {{expiry_date}}. Renew now for {{premium}}. -PYRNWL",
  },
];

/** The marketing offer the desk's campaigns send on WhatsApp (with its withdrawal link). */
export const offerTemplate = {
  code: "sim_renewal_offer",
  whatsappName: "py360_sim_renewal_offer",
  body: "Hi {{customer_name}}, renew {{policy_number}} before it expires and keep your cover " +
    "without a break. No more offers: {{withdrawal_link}}",
};

const placeholders = (body: string) => [...new Set(body.match(/\{\{\s*[a-z_0-9]+\s*\}\}/g) ?? [])];

/**
 * Saves the ladder's WhatsApp (utility) and SMS (DLT) variants and the marketing offer in
 * `language`, leaving alone any variant the database already has (its code, channel and
 * language), and registers their WhatsApp names in the sandbox at `sandboxUrl`. Returns the ids
 * of the templates it saved (deactivateTemplates switches them off after the run).
 */
export async function ensureTemplates(
  sql: postgres.Sql,
  sandboxUrl: string,
  language: string,
): Promise<string[]> {
  const rows = [
    ...ladderTemplates.flatMap((t, i) => [
      {
        code: t.code,
        channel: "whatsapp",
        purpose: "service",
        body: t.whatsapp,
        whatsapp_name: `py360_${t.code}`,
        whatsapp_category: "utility",
        whatsapp_parameter_count: placeholders(t.whatsapp).length,
      },
      {
        code: t.code,
        channel: "sms",
        purpose: "service",
        body: t.sms,
        dlt_template_id: `1107${
          String((language.charCodeAt(0) * 31 + language.charCodeAt(1)) % 10000).padStart(4, "0")
        }0000${String(i + 1).padStart(4, "0")}`,
        dlt_text: t.sms.replace(/\{\{\s*[a-z_0-9]+\s*\}\}/g, "{#var#}"),
      },
    ]),
    {
      code: offerTemplate.code,
      channel: "whatsapp",
      purpose: "marketing",
      body: offerTemplate.body,
      whatsapp_name: offerTemplate.whatsappName,
      whatsapp_category: "marketing",
      whatsapp_parameter_count: placeholders(offerTemplate.body).length,
    },
  ];
  const saved = await sql<{ id: string }[]>`
    insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                                  whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                                  dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
    select r.code, r.channel::public.channel_type, ${language}, r.purpose::public.consent_purpose,
           r.body,
           r.whatsapp_name, r.whatsapp_category::public.whatsapp_template_category,
           case when r.whatsapp_name is not null then 'approved' end, r.whatsapp_parameter_count,
           case when r.dlt_template_id is not null then '1101234567890123456' end,
           case when r.dlt_template_id is not null then 'PYRNWL' end, r.dlt_template_id, r.dlt_text
      from jsonb_to_recordset(${sql.json(rows)}::jsonb) as r (code text, channel text,
             purpose text, body text, whatsapp_name text, whatsapp_category text,
             whatsapp_parameter_count integer, dlt_template_id text, dlt_text text)
    on conflict do nothing
    returning id`;
  const registry = rows.filter((r) => r.whatsapp_name).map((r) => ({
    name: r.whatsapp_name,
    language,
    category: r.whatsapp_category,
    bodyParams: r.whatsapp_parameter_count,
  }));
  const answer = await fetch(`${sandboxUrl}/_control/whatsapp_cloud/templates`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ templates: registry }),
  });
  if (!answer.ok) throw new Error(`the sandbox refused the templates: ${await answer.text()}`);
  return saved.map((t) => t.id);
}

/** Switches off templates ensureTemplates saved (messages keep pointing at them). */
export async function deactivateTemplates(sql: postgres.Sql, ids: string[]): Promise<void> {
  if (ids.length > 0) {
    await sql`update public.templates set active = false where id = any(${ids}::uuid[])`;
  }
}

const firstNames = [
  "Aarav",
  "Vivaan",
  "Aditya",
  "Ishaan",
  "Ananya",
  "Diya",
  "Saanvi",
  "Meera",
  "Rohan",
  "Kabir",
  "Nikhil",
  "Priya",
  "Lakshmi",
  "Karthik",
  "Deepa",
  "Suresh",
  "Fatima",
  "Imran",
  "Neha",
  "Vikram",
];
const lastNames = [
  "Sharma",
  "Verma",
  "Gupta",
  "Iyer",
  "Reddy",
  "Nair",
  "Patel",
  "Singh",
  "Khan",
  "Das",
  "Rao",
  "Menon",
  "Joshi",
  "Kulkarni",
  "Bose",
  "Chopra",
  "Pillai",
  "Mehta",
  "Agarwal",
  "Krishnan",
];
