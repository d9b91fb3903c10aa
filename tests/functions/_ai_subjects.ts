// Shared by the AI endpoint tests (ai_risk, ai_recommendations): a renewal case whose customer
// carries personal data a prompt must never show (a distinctive name, mobile, email), with the
// policy's product line, premium, frequency, NCB and previous term chosen by the test, scored by
// the lapse-risk job; and the sandbox's OpenAI, its control and the prompts it received.
import assert from "node:assert/strict";
import { closeDb } from "../../functions/_shared/db.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { adminSql } from "./_helpers.ts";

/** The variables the assistant reads, set by startAssistant() and taken away by its close(). */
const assistantVariables = [
  "OPENAI_API_KEY",
  "OPENAI_BASE_URL",
  "ENABLE_AI_ASSISTANT",
  "AI_TIMEOUT_MS",
] as const;

/** How long a model call may take in these tests before the rules answer (AI_TIMEOUT_MS). */
export const testTimeoutMs = 1500;

/**
 * Starts the sandbox and points the assistant at it, switched on, with a short timeout. The api
 * app reads its configuration once, on first use: call this at the top of a test module, before
 * any request. close() stops the sandbox and takes the variables away.
 */
export async function startAssistant(): Promise<{ sandbox: Sandbox; close(): Promise<void> }> {
  const sandbox = await startSandbox();
  Deno.env.set("OPENAI_API_KEY", sandbox.credentials.openaiApiKey);
  Deno.env.set("OPENAI_BASE_URL", `${sandbox.url}/openai/v1`);
  Deno.env.set("ENABLE_AI_ASSISTANT", "true");
  Deno.env.set("AI_TIMEOUT_MS", String(testTimeoutMs));
  return {
    sandbox,
    close: async () => {
      await parkFreshAgents();
      await sandbox.close();
      await closeDb();
      for (const name of assistantVariables) Deno.env.delete(name);
    },
  };
}

/**
 * A new agent in `node` (default Farah's team, DEL_CP_HEALTH, under cp.manager), so that a test
 * has a rate-limit window and a budget of its own. Returns the email to get a token for.
 */
export async function freshAgent(node = "DEL_CP_HEALTH"): Promise<string> {
  const identifier = `ai_${crypto.randomUUID().slice(0, 8)}`;
  await adminSql()`select tests.create_user(${identifier}, 'agent', ${node})`;
  return `${identifier}@tests.py360.test`;
}

/**
 * Moves every agent freshAgent() made (and so their cases) to a team of its own outside the demo
 * organisation, so that the tests reading the demo hierarchy (a branch's agents, a team's cases)
 * find it as seeded whichever test file ran first.
 */
async function parkFreshAgents(): Promise<void> {
  await adminSql().begin(async (tx) => {
    let parent: string | null = null;
    for (
      const [level, code] of [["zone", "TESTS"], ["region", "TESTS_R"], ["branch", "TESTS_B"], [
        "team",
        "TESTS_AI_PARKED",
      ]]
    ) {
      const [node]: { id: string }[] = await tx`
        insert into public.hierarchy_nodes (parent_id, level, code, name)
        values (${parent}, ${level}::public.hierarchy_level, ${code}, ${`Parked test agents (${level})`})
        on conflict (code) do update set name = excluded.name
        returning id`;
      parent = node.id;
    }
    await tx`
      update public.profiles set node_id = ${parent}
       where email like 'ai\_%@tests.py360.test' and node_id is distinct from ${parent}`;
  });
}

/** The ai_requests rows of a user (by email), oldest first. */
export async function aiRequestsOf(email: string) {
  const rows = await adminSql()<
    {
      id: string;
      purpose: string;
      outcome: string;
      source: string | null;
      case_id: string | null;
      customer_id: string | null;
      attempts: number;
      prompt: unknown;
    }[]
  >`
    select r.id, r.purpose::text, r.outcome::text, r.source, r.case_id, r.customer_id,
           r.attempts, r.prompt
      from public.ai_requests r
      join auth.users u on u.id = r.caller
     where u.email = ${email}
     order by r.created_at, r.id`;
  return [...rows];
}

/** Spends `email`'s whole AI budget of today (IST): one settled request costing the budget. */
export async function spendDailyBudget(email: string): Promise<void> {
  await adminSql()`
    insert into public.ai_requests (purpose, caller, model, prompt_hash, cost_paise, outcome,
                                    source, finished_at, attempts)
    select 'risk_assessment', u.id, 'gpt-4o-mini', repeat('0', 64),
           (private.setting('AI_USER_DAILY_BUDGET_PAISE') #>> '{}')::numeric, 'ok', 'model',
           now(), 1
      from auth.users u where u.email = ${email}`;
}

/** What a test case looks like; every field has a default. */
export interface AiCaseOptions {
  agent?: string;
  productLine?: "motor" | "health" | "life" | "home";
  /** Yearly premium in paise; default a random amount, so no two tests send the same prompt. */
  premium?: number;
  sumInsured?: number;
  frequency?: "annual" | "half_yearly" | "quarterly" | "monthly";
  ncb?: number;
  /** The term before (renewed), when the test needs a premium or sum insured change. */
  previous?: { premium: number; sumInsured: number };
  /** Days from today (IST) to the due date; negative: expired. */
  daysToDue?: number;
  /** Grace days after the due date (default 0). */
  graceDays?: number;
  stage?: string;
  /** Default a fresh Indian mobile; null: none. */
  phone?: string | null;
  email?: string | null;
  /** Default a distinctive fresh name. */
  fullName?: string;
  preferredChannel?: "whatsapp" | "sms" | "email" | null;
  /** Another policy of this customer (an AiCase's): the name, phone and email are theirs. */
  sameCustomerAs?: AiCase;
}

/** A created case and the personal data of its customer. */
export interface AiCase {
  caseId: string;
  caseNumber: string;
  customerId: string;
  policyId: string;
  policyNumber: string;
  fullName: string;
  firstName: string;
  phone: string | null;
  email: string | null;
  premium: number;
}

const digits = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => String(b % 10)).join("");

/** A fresh customer, policy (and its previous term), case and first installment. */
export async function aiCase(options: AiCaseOptions = {}): Promise<AiCase> {
  const sql = adminSql();
  const tag = crypto.randomUUID().slice(0, 6).toUpperCase();
  const same = options.sameCustomerAs;
  const firstName = same?.firstName ?? options.fullName?.split(" ")[0] ??
    `Meenakshi${tag.replace(/[0-9]/g, "")}`;
  const fullName = same?.fullName ?? options.fullName ?? `${firstName} Venkataraman ${tag}`;
  const phone = same
    ? same.phone
    : options.phone === undefined
    ? `+9198${digits(8)}`
    : options.phone;
  const email = same
    ? same.email
    : options.email === undefined
    ? `meenakshi.${tag.toLowerCase()}@example.in`
    : options.email;
  const premium = options.premium ?? 1_000_000 + Number(digits(5)) * 10;
  const frequency = options.frequency ?? "annual";
  const n = { annual: 1, half_yearly: 2, quarterly: 4, monthly: 12 }[frequency];
  const [row] = await sql`
    with agent as (
      select id from public.profiles where email = ${options.agent ?? "farah.agent@py360.test"}
    ),
    today as (select private.business_date(now()) + ${options.daysToDue ?? 25}::integer as d),
    new_customer as (
      insert into public.customers (full_name, phone, email, preferred_channel, city)
      select ${fullName}, ${phone}, ${email}, ${
    options.preferredChannel ?? null
  }::public.channel_type,
             'Chennai'
       where ${same === undefined}
      returning id
    ),
    customer as (
      select id from new_customer
      union all
      select id from public.customers where id = ${same?.customerId ?? null}::uuid
    ),
    previous as (
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, status)
      select ${"PREV/" + tag}, ${
    options.productLine ?? "motor"
  }::public.product_line, 'Test General', customer.id,
             agent.id, ${options.previous?.premium ?? 1}, ${options.previous?.sumInsured ?? 1},
             today.d - 729, today.d - 365,
             'renewed'
        from customer, agent, today
       where ${options.previous !== undefined}
      returning id
    ),
    policy as (
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, payment_frequency,
                                   ncb_percent, renewed_from_policy_id)
      select ${"AI/" + tag}, ${
    options.productLine ?? "motor"
  }::public.product_line, 'Test General', customer.id,
             agent.id, ${premium}, ${options.sumInsured ?? 60_000_000},
             today.d - 364, today.d,
             ${frequency}::public.payment_frequency, ${options.ncb ?? 0}, (select id from previous)
        from customer, agent, today
      returning id, customer_id, agent_id, end_date, policy_number
    ),
    renewal as (
      insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
      select id, customer_id, agent_id, end_date, end_date + ${
    options.graceDays ?? 0
  }::integer from policy
      returning id, due_date, case_number
    ),
    installment as (
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
      select id, 1, due_date, ${premium - (n - 1) * Math.floor(premium / n)} from renewal
      returning id
    )
    select renewal.id as case_id, renewal.case_number, policy.id as policy_id,
           policy.customer_id, policy.policy_number
      from renewal, policy, installment`;
  if (options.stage) {
    await sql`update public.renewal_cases set stage = ${options.stage} where id = ${row.case_id}`;
  }
  return {
    caseId: row.case_id,
    caseNumber: row.case_number,
    customerId: row.customer_id,
    policyId: row.policy_id,
    policyNumber: row.policy_number,
    fullName,
    firstName,
    phone,
    email,
    premium,
  };
}

/** Scores every open case now (the daily lapse-risk job). */
export async function scoreAll(): Promise<void> {
  await adminSql()`select * from private.score_lapse_risk(now())`;
}

/**
 * An active SMS template of its own (service, English, on a registered DLT text), so that the
 * message gate would let an SMS go; remove() deletes it.
 */
export async function smsTemplate(): Promise<{ id: string; remove(): Promise<void> }> {
  const tag = crypto.randomUUID().slice(0, 8);
  const body =
    "Dear {{customer_name}}, policy {{policy_number}} expires on {{expiry_date}}. -PYRNWL";
  const [row] = await adminSql()`
    insert into public.templates (code, channel, language, purpose, body, dlt_entity_id,
                                  dlt_header, dlt_template_id, dlt_text)
    values (${`reach_test_${tag}`}, 'sms', 'en', 'service', ${body}, '1101234567890123456',
            'PYRNWL', ${`1107${digits(15)}`},
            ${body.replace(/\{\{\s*[a-z_]+\s*\}\}/g, "{#var#}")})
    returning id`;
  return {
    id: row.id,
    remove: async () => {
      await adminSql()`delete from public.templates where id = ${row.id}`;
    },
  };
}

/** What keeps every message channel from reaching a customer. */
export type Unreachable = "suppressed" | "consent_withdrawn";

/**
 * The customer opted in to WhatsApp (so that, with an SMS template, the gate would let a service
 * message go on every channel they have an address for); then, when `block` says so, every
 * address of theirs suppressed, or their service consent withdrawn on every channel.
 */
export async function setReach(one: AiCase, block?: Unreachable): Promise<void> {
  const sql = adminSql();
  const consent = (channel: string, status: string) =>
    sql`
      insert into public.consents (customer_id, channel, purpose, status, source)
      values (${one.customerId}, ${channel}, 'service', ${status}, 'web_form')
      on conflict (customer_id, channel, purpose) do update set status = excluded.status`;
  await consent("whatsapp", "granted");
  if (block === "consent_withdrawn") {
    for (const channel of ["whatsapp", "sms", "email"]) await consent(channel, "withdrawn");
  }
  if (block === "suppressed") {
    const addresses = [["sms", one.phone], ["whatsapp", one.phone], ["email", one.email]];
    for (const [channel, address] of addresses) {
      if (address === null) continue;
      await sql`
        insert into public.suppressions (channel, address, reason, source)
        values (${channel}, ${address.toLowerCase()}, 'hard_bounce', 'test')`;
    }
  }
}

/** A failed Razorpay payment on the case. */
export async function failPayment(caseId: string, amount = 100_000): Promise<void> {
  await adminSql()`
    insert into public.payments (case_id, razorpay_payment_id, amount, status, failure_reason)
    values (${caseId}, ${"pay_" + crypto.randomUUID().replaceAll("-", "").slice(0, 14)}, ${amount},
            'failed', 'BAD_REQUEST_ERROR')`;
}

/** POSTs a body to the sandbox's OpenAI control (faults, switches, failNext, reset). */
export async function openaiControl(sandbox: Sandbox, body: Record<string, unknown>) {
  const response = await fetch(`${sandbox.url}/_control/openai`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer;
}

/** Every chat completion request the sandbox received, oldest first, as it received it. */
export async function openaiRequests(sandbox: Sandbox): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${sandbox.url}/_inspect/openai/requests`);
  assert.equal(response.status, 200);
  return await response.json();
}

/**
 * Asserts that a prompt's text holds nothing personal of the customers `made`: their phone (with
 * or without +91), email, full name and its parts, policy and case numbers, ids and city; no
 * phone, email, PAN or Aadhaar of anyone; and the customer as the `<customer>` token.
 */
export function assertNoPersonalData(text: string, made: readonly AiCase[]): void {
  for (const one of made) {
    const [first, last] = one.fullName.split(" ");
    for (
      const personal of [
        ...(one.phone ? [one.phone, one.phone.slice(3)] : []),
        ...(one.email ? [one.email] : []),
        one.fullName,
        first,
        last,
        one.policyNumber,
        one.caseNumber,
        one.caseId,
        one.customerId,
        "Chennai",
      ]
    ) {
      assert.ok(!text.includes(personal), `a prompt holds ${personal}`);
    }
  }
  assert.doesNotMatch(text, /\+?91[ -]?[6-9]\d{9}\b|\b[6-9]\d{9}\b/, "a phone number");
  assert.doesNotMatch(text, /[\w.+-]+@[\w-]+\.[\w.]+/, "an email address");
  assert.doesNotMatch(text, /\b[A-Z]{5}[0-9]{4}[A-Z]\b/, "a PAN");
  assert.doesNotMatch(text, /\b[2-9]\d{3}\s?\d{4}\s?\d{4}\b/, "an Aadhaar number");
  assert.match(text, /<customer>/, "the customer is a token");
}
