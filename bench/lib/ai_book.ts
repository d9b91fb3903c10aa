// The book of the AI benchmark (bench/ai.ts), made in bulk as the superuser: open renewal cases
// whose prompts all differ (each premium is its own), spread over the demo agents with one agent
// holding the cases the bench asks about, scored by the daily lapse-risk job; and the AI settings
// opened up so that neither the rate limit nor a budget turns a measured request into the rules'.
import type postgres from "postgres";

/** One of the measured agent's cases, in the order the bench asks about them. */
export interface AiBookCase {
  /** Its number in the book (1 ..), for messages. */
  n: number;
  caseId: string;
}

/** What prepareAiBook() made. */
export interface AiBook {
  /** The measured agent, as userToken() takes it. */
  agent: { id: string; email: string; appMetadata: Record<string, unknown> };
  /** The agent's cases, book order. */
  cases: AiBookCase[];
}

/**
 * Makes `cases` customers, each with a current policy (its previous term for one in three, the
 * premium up about 18 %), an open renewal case due in 3 to 60 days (IST) and its first
 * installment; cases 1 .. `asked` belong to `agentEmail`, the rest round-robin to the other active
 * agents. Product lines, payment frequencies, NCB and WhatsApp consent vary with the case number;
 * the premium is 5,000 rupees + 1.37 rupees per case number, in paise, so no two cases give the
 * model the same facts. Then every open case is scored (private.score_lapse_risk). Throws when
 * the agent is not in the seed.
 */
export async function prepareAiBook(
  sql: postgres.Sql,
  { cases, agentEmail, asked }: { cases: number; agentEmail: string; asked: number },
): Promise<AiBook> {
  const [agent] = await sql<{ id: string; email: string; app: Record<string, unknown> }[]>`
    select id, email, raw_app_meta_data as app from auth.users where email = ${agentEmail}`;
  if (!agent) throw new Error(`no ${agentEmail} in the seed`);
  await sql.begin(async (tx) => {
    await tx`
      create temporary table ai_book on commit drop as
      select n,
             gen_random_uuid() as customer_id,
             gen_random_uuid() as policy_id,
             gen_random_uuid() as previous_id,
             case when n <= ${asked} then ${agent.id}::uuid
                  else others.ids[1 + n % cardinality(others.ids)] end as agent_id,
             (array['motor', 'health', 'life', 'home'])[1 + n % 4]::public.product_line
               as product_line,
             (array['annual', 'annual', 'half_yearly', 'quarterly', 'monthly'])[1 + n % 5]
               ::public.payment_frequency as frequency,
             (array[1, 1, 2, 4, 12])[1 + n % 5] as installments,
             500000 + n * 137 as premium,
             50000000 + (n % 40) * 2500000 as sum_insured,
             case when n % 4 = 0 then (array[0, 20, 25, 35, 45, 50])[1 + (n / 4) % 6] else 0 end
               as ncb,
             private.business_date(now()) + 3 + (n * 7) % 58 as due,
             (array['Meera', 'Arvind', 'Sunita', 'Kiran', 'Farhan', 'Lakshmi', 'Rohit',
                    'Deepa'])[1 + n % 8] || ' ' ||
             (array['Iyer', 'Kulkarni', 'Bose', 'Gill', 'Menon', 'Qureshi', 'Naidu'])[1 + n % 7]
               as full_name
        from generate_series(1, ${cases}) n,
             (select array_agg(id order by email) as ids from public.profiles
               where role = 'agent' and active and email <> ${agentEmail}) others`;
    await tx`
      insert into public.customers (id, full_name, phone, email, city)
      select customer_id, full_name, '+9198' || lpad(n::text, 8, '0'),
             'bench.ai.' || n || '@example.in', 'Pune'
        from ai_book`;
    await tx`
      insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, status)
      select previous_id, 'BENCH/AI/PREV/' || n, product_line, 'Bench General', customer_id,
             agent_id, premium * 85 / 100, sum_insured, due - 730, due - 366, 'renewed'
        from ai_book where n % 3 = 0`;
    await tx`
      insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, payment_frequency,
                                   ncb_percent, renewed_from_policy_id)
      select policy_id, 'BENCH/AI/' || n, product_line, 'Bench General', customer_id, agent_id,
             premium, sum_insured, due - 365, due, frequency, ncb,
             case when n % 3 = 0 then previous_id end
        from ai_book`;
    await tx`
      with opened as (
        insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
        select policy_id, customer_id, agent_id, due, due from ai_book
        returning id, policy_id, due_date
      )
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
      select o.id, 1, o.due_date, b.premium - (b.installments - 1) * (b.premium / b.installments)
        from opened o join ai_book b using (policy_id)`;
    await tx`
      insert into public.consents (customer_id, channel, purpose, status, source)
      select customer_id, 'whatsapp', 'service', 'granted', 'web_form'
        from ai_book where n % 2 = 0`;
  });
  await sql`analyze`;
  await sql`select * from private.score_lapse_risk(now())`;
  const rows = await sql<{ n: number; case_id: string }[]>`
    select substring(p.policy_number from '[0-9]+$')::int as n, c.id as case_id
      from public.renewal_cases c join public.policies p on p.id = c.policy_id
     where c.assignee_id = ${agent.id} and p.policy_number like 'BENCH/AI/%'
       and p.policy_number not like 'BENCH/AI/PREV/%'
     order by 1`;
  const [{ scored }] = await sql`
    select count(*)::int as scored from public.case_risk_scores s
      join public.renewal_cases c on c.id = s.case_id
     where c.assignee_id = ${agent.id}`;
  if (rows.length !== asked || scored !== asked) {
    throw new Error(
      `the book has ${rows.length} cases of ${agentEmail}, ${scored} scored; ` +
        `${asked} expected`,
    );
  }
  return {
    agent: { id: agent.id, email: agent.email, appMetadata: agent.app },
    cases: rows.map((r) => ({ n: r.n, caseId: r.case_id })),
  };
}

/**
 * Lifts the per-user AI rate limit (100,000 a minute) and the daily and monthly budgets (₹10 lakh
 * and ₹1 crore) for the run: a measured request refused for them would be the rules' answer. The
 * cache window stays as shipped. Returns it and the model, as private.ai_settings() reads them.
 */
export async function openAiSettings(
  sql: postgres.Sql,
): Promise<{ cacheSeconds: number; model: string }> {
  for (
    const [key, value] of [
      ["AI_RATE_LIMIT_PER_MINUTE", 100_000],
      ["AI_USER_DAILY_BUDGET_PAISE", 100_000_000],
      ["AI_MONTHLY_BUDGET_PAISE", 1_000_000_000],
    ] as const
  ) {
    await sql`
      insert into public.app_settings (key, value, description)
      values (${key}, ${sql.json(value)}, 'set by bench/ai.ts')
      on conflict (key) do update set value = excluded.value`;
  }
  const [settings] = await sql`
    select cache_seconds, model, rate_limit_per_minute, defaulted from private.ai_settings()`;
  if (settings.defaulted.length > 0 || settings.rate_limit_per_minute !== 100_000) {
    throw new Error(`the AI settings were not taken: ${JSON.stringify(settings)}`);
  }
  return { cacheSeconds: settings.cache_seconds, model: settings.model };
}
