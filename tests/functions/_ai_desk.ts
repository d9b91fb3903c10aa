// Shared by the profile-summary and draft tests: the sandbox's OpenAI with the functions' AI
// variables pointed at it (the api app reads its configuration once per test module, on first
// use, so a module starts this harness at its top and closes it in its last test), the AI
// settings a test moves (restored at the end), a customer whose personal data no prompt may show,
// and the scan of every prompt the sandbox received.
import assert from "node:assert/strict";
import { closeDb } from "../../functions/_shared/db.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { adminSql } from "./_helpers.ts";

/** A prompt as the sandbox's inspection API lists it: its messages' text, its schema's name. */
export interface SandboxPrompt {
  body: string;
  template?: string;
}

/** A running harness. */
export interface AiDesk {
  sandbox: Sandbox;
  /** POST /_control/openai: faults (outage, latencyMs, malformed, ...). */
  control(body: Record<string, unknown>): Promise<void>;
  /** Every fault off and the request log emptied (the prompts kept for allPrompts()). */
  reset(): Promise<void>;
  /** The prompts the sandbox received since the last reset (system and user messages joined). */
  prompts(): Promise<SandboxPrompt[]>;
  /** Every prompt the sandbox received since the harness started. */
  allPrompts(): Promise<SandboxPrompt[]>;
  /** Sets an app setting (jsonb) until close(), or until set again. */
  setting(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

const variables = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "ENABLE_AI_ASSISTANT", "AI_TIMEOUT_MS"];

/** The AI timeout the harness sets: a sandbox latency above it is a timeout. */
export const aiTimeoutMs = 1500;

/**
 * Starts the sandbox, points the functions at it with the assistant on and a short timeout, and
 * lifts the per-user AI rate limit for the module (its own test sets it back down).
 */
export async function startAiDesk(): Promise<AiDesk> {
  const sandbox = await startSandbox();
  Deno.env.set("OPENAI_API_KEY", sandbox.credentials.openaiApiKey);
  Deno.env.set("OPENAI_BASE_URL", `${sandbox.url}/openai/v1`);
  Deno.env.set("ENABLE_AI_ASSISTANT", "true");
  Deno.env.set("AI_TIMEOUT_MS", String(aiTimeoutMs));
  const saved = new Map<string, unknown>();
  const setting = async (key: string, value: unknown) => {
    if (!saved.has(key)) {
      const [row] = await adminSql()`select value from public.app_settings where key = ${key}`;
      saved.set(key, row ? row.value : undefined);
    }
    await adminSql()`
      insert into public.app_settings (key, value, description)
      values (${key}, ${adminSql().json(value as never)}, 'set by a test')
      on conflict (key) do update set value = excluded.value`;
  };
  await setting("AI_RATE_LIMIT_PER_MINUTE", 1000);
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${sandbox.url}/_control/${path}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200, await response.text());
  };
  const earlier: SandboxPrompt[] = [];
  const prompts = async (): Promise<SandboxPrompt[]> =>
    await (await fetch(`${sandbox.url}/_inspect/openai/requests`)).json();
  return {
    sandbox,
    control: (body) => post("openai", body),
    reset: async () => {
      earlier.push(...await prompts());
      await post("reset", {});
    },
    prompts,
    allPrompts: async () => [...earlier, ...await prompts()],
    setting,
    close: async () => {
      for (const [key, value] of saved) {
        if (value === undefined) {
          await adminSql()`delete from public.app_settings where key = ${key}`;
        } else {
          await adminSql()`
            update public.app_settings set value = ${adminSql().json(value as never)}
             where key = ${key}`;
        }
      }
      await sandbox.close();
      await closeDb();
      for (const name of variables) Deno.env.delete(name);
    },
  };
}

/** What a desk customer looks like; every field has a default. */
export interface DeskCustomerOptions {
  agent?: string;
  productLine?: "motor" | "health" | "life" | "home";
  /** Days from today (IST) to the due date; negative: expired. Default 25. */
  daysToDue?: number;
  /** Grace days after the due date (default 0). */
  graceDays?: number;
  ncb?: number;
  language?: string;
  preferredChannel?: "whatsapp" | "sms" | "email" | null;
  /** Default a fresh Indian mobile; null: none. */
  phone?: string | null;
  /** Default a fresh address; null: none. */
  email?: string | null;
  /** Default a distinctive fresh name. */
  fullName?: string;
}

/** A created customer with one open case, and the personal data no prompt may show. */
export interface DeskCustomer {
  customerId: string;
  caseId: string;
  caseNumber: string;
  policyNumber: string;
  installmentId: string;
  fullName: string;
  firstName: string;
  phone: string | null;
  email: string | null;
  premium: number;
}

const digits = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => String(b % 10)).join("");

/**
 * A fresh customer (a distinctive name, an Indian mobile, an email), a policy of theirs ending in
 * `daysToDue` days, its renewal case held by `agent` and one installment of the whole premium.
 */
export async function deskCustomer(options: DeskCustomerOptions = {}): Promise<DeskCustomer> {
  const tag = crypto.randomUUID().slice(0, 6).toUpperCase();
  const firstName = options.fullName?.split(" ")[0] ?? `Vasundhara${tag.replace(/[0-9]/g, "")}`;
  const fullName = options.fullName ?? `${firstName} Chidambaram ${tag}`;
  const phone = options.phone === undefined ? `+9197${digits(8)}` : options.phone;
  const email = options.email === undefined
    ? `vasundhara.${tag.toLowerCase()}@mail.example.in`
    : options.email;
  const premium = 1_000_000 + Number(digits(4)) * 100;
  const [row] = await adminSql()`
    with agent as (
      select id from public.profiles where email = ${options.agent ?? "farah.agent@py360.test"}
    ),
    due as (select private.business_date(now()) + ${options.daysToDue ?? 25}::integer as d),
    customer as (
      insert into public.customers (full_name, phone, email, language, preferred_channel)
      values (${fullName}, ${phone}, ${email}, ${options.language ?? "en"},
              ${options.preferredChannel ?? null})
      returning id
    ),
    policy as (
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, ncb_percent)
      select ${"DRAFT/" + tag}, ${options.productLine ?? "motor"}::public.product_line,
             'Test General', customer.id, agent.id, ${premium}, 60000000, due.d - 364, due.d,
             ${options.ncb ?? 0}
        from customer, agent, due
      returning id, customer_id, agent_id, end_date, policy_number
    ),
    renewal as (
      insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
      select id, customer_id, agent_id, end_date, end_date + ${options.graceDays ?? 0}::integer
        from policy
      returning id, due_date, case_number
    ),
    installment as (
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
      select id, 1, due_date, ${premium} from renewal
      returning id
    )
    select renewal.id as case_id, renewal.case_number, policy.customer_id, policy.policy_number,
           installment.id as installment_id
      from renewal, policy, installment`;
  return {
    customerId: row.customer_id,
    caseId: row.case_id,
    caseNumber: row.case_number,
    policyNumber: row.policy_number,
    installmentId: row.installment_id,
    fullName,
    firstName,
    phone,
    email,
    premium,
  };
}

/** A consent of the customer (`granted` or `withdrawn`), recorded from a web form. */
export async function consent(
  customerId: string,
  channel: "sms" | "email" | "whatsapp",
  purpose: "transactional" | "service" | "marketing",
  status: "granted" | "withdrawn",
): Promise<void> {
  await adminSql()`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${customerId}, ${channel}, ${purpose}, ${status}, 'web_form')
    on conflict (customer_id, channel, purpose) do update set status = excluded.status`;
}

/** The ai_requests rows a user made, oldest first. */
export async function aiRows(email: string) {
  return await adminSql()<{ purpose: string; outcome: string; source: string }[]>`
    select r.purpose::text, r.outcome::text, r.source
      from public.ai_requests r join auth.users u on u.id = r.caller
     where u.email = ${email}
     order by r.created_at, r.id`;
}

/** Patterns of personal data a prompt must never carry, whoever it belongs to. */
const personalPatterns: [string, RegExp][] = [
  ["an email address", /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/u],
  ["a PAN", /(?<![A-Za-z0-9])[A-Z]{5}[0-9]{4}[A-Z](?![A-Za-z0-9])/],
  ["an Aadhaar number", /(?<![0-9])[2-9][0-9]{3}[\s-]?[0-9]{4}[\s-]?[0-9]{4}(?![0-9])/],
  ["an Indian mobile number", /(?<![0-9])(\+?91[\s-]?)?[6-9][0-9]{4}[\s-]?[0-9]{5}(?![0-9])/],
];

/**
 * Asserts that no prompt holds any of the customers' names (whole or any part), phone numbers
 * (any of their last ten digits' common forms) or emails, nor anything shaped like an email,
 * PAN, Aadhaar or Indian mobile number. At least one prompt must have been received.
 */
export function assertNoPersonalData(
  prompts: { body: string }[],
  people: { fullName: string; phone: string | null; email: string | null }[],
): void {
  assert.ok(prompts.length > 0, "the sandbox received prompts to scan");
  for (const { body } of prompts) {
    for (const person of people) {
      for (const part of person.fullName.split(" ")) {
        assert.ok(!body.includes(part), `a prompt names the customer (${part})`);
      }
      const ten = person.phone?.slice(-10);
      for (const form of ten ? [ten, `${ten.slice(0, 5)} ${ten.slice(5)}`] : []) {
        assert.ok(!body.includes(form), "a prompt holds the customer's phone number");
      }
      if (person.email) assert.ok(!body.includes(person.email), "a prompt holds the email");
    }
    for (const [what, pattern] of personalPatterns) {
      assert.doesNotMatch(body, pattern, `a prompt holds ${what}`);
    }
  }
}
