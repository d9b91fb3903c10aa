// The journeys' book: customers and their policies as the insurer's policy feed lands them, with
// the consents their onboarding recorded. Direct SQL as the superuser: the feed and the onboarding
// form are set-up, no part of any journey. Each journey's helper names its own customers (a
// label, a tag) and picks its own defaults; the rows are made here, in one way. (The campaign
// journey's 10,000 customers are made in bulk by its own helper.)
import { adminSql } from "./_stack.ts";

/** A random tag of 8 capitals and digits: it names a journey's own rows. */
export function freshTag(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 8).toUpperCase();
}

/**
 * A random Indian mobile number in E.164 (`+91` and ten digits) starting with `prefix` (default
 * `+919`), so that the sandbox's requests for one customer can be told apart.
 */
export function uniqueMobile(prefix = "+919"): string {
  const count = 13 - prefix.length;
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(count)), (b) => b % 10).join("");
  return `${prefix}${digits}`;
}

/**
 * The names a journey's customer gets from a `label` ("Simran Journey") and a `tag`: the name
 * `<label> <tag>`, the policy number `E2E/<LABEL>/<tag>` and the address
 * `<label>.<tag>@example.in` (lower case, runs of other characters as `-` / `.`).
 */
export function labelled(label: string, tag: string) {
  return {
    customerName: `${label} ${tag}`,
    policyNumber: `E2E/${label.toUpperCase().replace(/[^A-Z0-9]+/g, "-")}/${tag}`,
    email: `${label.toLowerCase().replace(/[^a-z0-9]+/g, ".")}.${tag.toLowerCase()}@example.in`,
  };
}

/** A consent recorded at onboarding (status granted). */
export interface GivenConsent {
  channel: "sms" | "email" | "whatsapp";
  purpose: "service" | "marketing";
  /** `import` (the insurer's batch) or `web_form` (the onboarding form). */
  source: "import" | "web_form";
  /** When it was recorded, in days before now; default now. */
  daysAgo?: number;
  /** The consent's evidence (jsonb). */
  evidence: Record<string, unknown>;
}

/** One policy and its holder as the feed sends them. Amounts in paise; dates IST YYYY-MM-DD. */
export interface PolicyFeed {
  /** The seeded agent who holds the policy (their email). */
  agentEmail: string;
  customerName: string;
  /** E.164 (see uniqueMobile). */
  phone: string;
  email: string | null;
  /** The customer's language (ISO 639-1): it picks the ladder's template variants. */
  language: string;
  preferredChannel?: "whatsapp" | "sms" | "email" | null;
  city?: string | null;
  /** Recorded in this order (each appends its consent_ledger row). Default: none. */
  consents?: GivenConsent[];
  policyNumber: string;
  productLine: "motor" | "health" | "life" | "home";
  insurer: string;
  /** Yearly premium, paise. */
  premium: number;
  /** Sum insured (IDV for motor), paise. */
  sumInsured: number;
  /** The policy's last day of cover (it started 364 days before): the renewal is due then. */
  endDate: string;
  /** Default annual. */
  frequency?: "annual" | "half_yearly" | "quarterly" | "monthly";
  /** Default 0. */
  ncbPercent?: number;
}

/** What the feed loaded: one customer and one active policy of theirs. */
export interface FedPolicy {
  customerId: string;
  policyId: string;
  policyNumber: string;
  customerName: string;
  /** E.164, an Indian mobile unique to the customer. */
  phone: string;
  email: string | null;
}

/**
 * Loads one customer, their consents and an active policy held by `feed.agentEmail` (who must be
 * a seeded agent), in one transaction. Throws when there is no such agent.
 */
export async function feedPolicy(feed: PolicyFeed): Promise<FedPolicy> {
  const consents = feed.consents ?? [];
  return await adminSql().begin(async (tx) => {
    const [row] = await tx<{ customer_id: string; policy_id: string }[]>`
      with agent as (
        select id from public.profiles where email = ${feed.agentEmail} and role = 'agent'
      ),
      customer as (
        insert into public.customers (full_name, phone, email, language, preferred_channel, city)
        values (${feed.customerName}, ${feed.phone}, ${feed.email}, ${feed.language},
                ${feed.preferredChannel ?? null}::public.channel_type, ${feed.city ?? null})
        returning id
      )
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, payment_frequency,
                                   ncb_percent)
      select ${feed.policyNumber}, ${feed.productLine}::public.product_line, ${feed.insurer},
             customer.id, agent.id, ${feed.premium}, ${feed.sumInsured},
             ${feed.endDate}::date - 364, ${feed.endDate}::date,
             ${feed.frequency ?? "annual"}::public.payment_frequency, ${feed.ncbPercent ?? 0}
        from customer, agent
      returning customer_id, id as policy_id`;
    if (!row) throw new Error(`no agent ${feed.agentEmail}`);
    // One statement per consent, in order: each appends its consent_ledger row in turn.
    for (const consent of consents) {
      await tx`
        insert into public.consents (customer_id, channel, purpose, status, source, recorded_at,
                                     evidence)
        values (${row.customer_id}, ${consent.channel}, ${consent.purpose}, 'granted',
                ${consent.source}, now() - make_interval(days => ${consent.daysAgo ?? 0}),
                ${tx.json(consent.evidence as never)})`;
    }
    return {
      customerId: row.customer_id,
      policyId: row.policy_id,
      policyNumber: feed.policyNumber,
      customerName: feed.customerName,
      phone: feed.phone,
      email: feed.email,
    };
  });
}
