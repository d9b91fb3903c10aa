// The synthetic book generator behind `npm run seed:big` and the benchmarks: the book, its
// history, and the hidden outcomes the lapse-risk benchmark judges the model on.
import assert from "node:assert/strict";
import postgres from "postgres";
import { addCaseActivityIn, loadBigBook } from "../../scripts/lib/big_book.ts";
import { rocAuc } from "../../bench/lib/risk_metrics.ts";
import { adminSql, dbTest } from "./_helpers.ts";

const url = Deno.env.get("SUPABASE_DB_URL")!;

/** Thrown to end a transaction the test only looked through. */
class Rollback extends Error {}

/** Swallows the Rollback that ended a transaction on purpose; rethrows anything else. */
function rolledBack(error: unknown) {
  if (!(error instanceof Rollback)) throw error;
}

dbTest("big book: the size asked for, derived from the seed, refused twice", async () => {
  await loadBigBook(url, { policies: 3000, seed: 901 });
  const sql = adminSql();
  const [book] = await sql`
    select count(*)::int as policies,
           count(distinct customer_id)::int as customers,
           count(distinct agent_id)::int as agents,
           min(end_date) - current_date as first_end,
           max(end_date) - current_date as last_end,
           sum(premium)::text as premiums
      from public.policies where policy_number like 'B901/%'`;
  assert.equal(book.policies, 3000);
  assert.equal(book.customers, 2000, "one customer for every 1.5 policies");
  assert.ok(book.agents >= 7, "policies spread over the organisation's agents");
  assert.ok(
    book.first_end >= -30 && book.last_end <= 335,
    "end dates within a year from 30 days ago",
  );

  // A seed cannot be loaded twice; another seed gives another book.
  await assert.rejects(
    loadBigBook(url, { policies: 3000, seed: 901 }),
    /seed 901 is already loaded/,
  );
  await loadBigBook(url, { policies: 3000, seed: 902 });
  const [other] = await sql`
    select sum(premium)::text as premiums from public.policies where policy_number like 'B902/%'`;
  assert.notEqual(other.premiums, book.premiums, "another seed, another book");
  const [again] = await sql`
    select sum(p.premium)::text as premiums
      from generate_series(1, 3000) i
      join public.policies p on p.id = md5('901:policy:' || i)::uuid`;
  assert.equal(again.premiums, book.premiums, "ids derive from (seed, row)");
});

/** The rows of book `seed` a model could read, and its outcomes, as one digest per kind. */
async function digest(sql: postgres.Sql, seed: number) {
  const customer = `%.s${seed}@big.py360.test`;
  const [d] = await sql`
    with book_customers as (
      select cu.id, cu.book_keys from public.customers cu where cu.email like ${customer}
    )
    select
      (select md5(string_agg(concat_ws(',', p.id, p.policy_number, p.product_line, p.premium,
                                       p.start_date, p.end_date, p.status,
                                       p.renewed_from_policy_id, p.agent_id), '|' order by p.id))
         from public.policies p join book_customers b on b.id = p.customer_id) as policies,
      (select md5(string_agg(concat_ws(',', c.id, c.case_number, c.stage, c.due_date,
                                       c.closed_at, a.installment_number, a.status, a.amount,
                                       a.paid_at), '|' order by c.id, a.installment_number))
         from public.renewal_cases c join book_customers b on b.id = c.customer_id
         join public.outstanding_amounts a on a.case_id = c.id) as cases,
      (select md5(string_agg(b.id || ',' || b.book_keys::text, '|' order by b.id))
         from book_customers b) as customers,
      (select md5(string_agg(concat_ws(',', s.channel, s.address, s.reason), '|'
                             order by s.channel, s.address))
         from public.suppressions s where s.address like ${customer}) as suppressions,
      (select md5(string_agg(concat_ws(',', o.policy_row, o.propensity, o.lapsed), '|'
                             order by o.policy_row))
         from simulation.outcomes o where o.seed = ${seed}) as outcomes`;
  return d;
}

/**
 * Deletes book `seed` (organisation, customers, terms, history, outcomes), triggers off; the
 * suppressions of its phone numbers stay, as other seeds share those numbers.
 */
async function dropBook(sql: postgres.Sql, seed: number) {
  const email = `%.s${seed}@big.py360.test`;
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`delete from public.outstanding_amounts a using public.renewal_cases c, public.customers cu
              where a.case_id = c.id and c.customer_id = cu.id and cu.email like ${email}`;
    await tx`delete from public.renewal_cases c using public.customers cu
              where c.customer_id = cu.id and cu.email like ${email}`;
    await tx`delete from public.policies p using public.customers cu
              where p.customer_id = cu.id and cu.email like ${email}`;
    await tx`delete from public.suppressions where address like ${email}`;
    await tx`delete from public.customers where email like ${email}`;
    await tx`delete from public.profiles where email like ${email}`;
    await tx`delete from auth.users where email like ${email}`;
    await tx`delete from public.hierarchy_nodes where code ~ ${`^B[ZRBT]${seed}_`}`;
    await tx`delete from simulation.outcomes where seed = ${seed}`;
    await tx`delete from simulation.books where seed = ${seed}`;
  });
}

dbTest("big book: history and hidden outcomes, the same for the same seed", async () => {
  const sql = adminSql();
  await loadBigBook(url, { policies: 3000, seed: 903 });
  const first = await digest(sql, 903);
  for (const [kind, value] of Object.entries(first)) assert.ok(value, `book 903 has ${kind}`);

  // Loaded again from nothing, the same seed gives the same rows and the same outcomes.
  await dropBook(sql, 903);
  const [gone] = await sql`select count(*)::int as n from simulation.outcomes where seed = 903`;
  assert.equal(gone.n, 0);
  await loadBigBook(url, { policies: 3000, seed: 903 });
  assert.deepEqual(await digest(sql, 903), first, "the same seed, the same book");
  // Another seed draws other outcomes for the same rows.
  await loadBigBook(url, { policies: 3000, seed: 904 });
  const [differ] = await sql`
    select count(*)::int as rows, count(*) filter (where a.lapsed <> b.lapsed)::int as differ
      from simulation.outcomes a
      join simulation.outcomes b on b.policy_row = a.policy_row and b.seed = 904
     where a.seed = 903`;
  assert.equal(differ.rows, 3000);
  assert.ok(differ.differ > 300, `${differ.differ} of 3000 outcomes differ between seeds`);

  // The outcomes: a plausible lapse rate, drawn from the propensity (which ranks them well).
  const outcomes = await sql`
    select propensity, lapsed from simulation.outcomes where seed = 903 order by policy_row`;
  const rate = outcomes.filter((o) => o.lapsed).length / outcomes.length;
  assert.ok(rate > 0.12 && rate < 0.35, `lapse rate ${rate}`);
  const auc = rocAuc(outcomes.map((o) => o.propensity), outcomes.map((o) => o.lapsed));
  assert.ok(auc > 0.8, `the hidden propensity separates its own outcomes: AUC ${auc}`);

  // The history the model reads: the terms renewed (a year before, same customer), the terms
  // that lapsed with their case and unpaid installment, installments paid late, suppressions.
  const [history] = await sql`
    select
      (select count(*)::int from public.policies p where p.policy_number like 'B903/%'
          and p.renewed_from_policy_id is not null) as renewals,
      (select count(*)::int from public.policies p
         join public.policies prev on prev.id = p.renewed_from_policy_id
        where p.policy_number like 'B903/%' and prev.customer_id = p.customer_id
          and prev.status = 'renewed' and prev.end_date = p.end_date - 365) as consistent_renewals,
      (select count(*)::int from public.policies p
        where p.policy_number like 'H903/L%' and p.status = 'lapsed' and p.end_date < current_date)
        as lapsed_terms,
      (select count(*)::int from public.renewal_cases c
         join public.policies p on p.id = c.policy_id
         join public.outstanding_amounts a on a.case_id = c.id and a.status = 'overdue'
        where p.policy_number like 'H903/L%' and c.stage = 'lapsed' and c.closed_at < now())
        as lapsed_cases,
      (select count(*)::int from public.outstanding_amounts a
         join public.renewal_cases c on c.id = a.case_id
         join public.policies p on p.id = c.policy_id
        where p.policy_number like 'H903/P%' and a.status = 'paid'
          and (a.paid_at at time zone 'Asia/Kolkata')::date > a.due_date
          and c.closed_at < now()) as paid_late,
      (select count(*)::int from public.suppressions where address like '%.s903@big.py360.test')
        as bounced_emails`;
  assert.ok(history.renewals > 1000 && history.renewals < 3000, `${history.renewals} renewals`);
  assert.equal(history.consistent_renewals, history.renewals);
  assert.ok(history.lapsed_terms > 20, `${history.lapsed_terms} lapsed terms`);
  assert.equal(history.lapsed_cases, history.lapsed_terms, "each with its case left unpaid");
  assert.ok(history.paid_late > 100, `${history.paid_late} installments paid late`);
  assert.ok(history.bounced_emails > 50, `${history.bounced_emails} bounced emails`);

  // Written without triggers, yet whole: every reference resolves, and the book keys are those
  // the policies' trigger would give (refreshing them changes nothing).
  const [dangling] = await sql`
    select count(*) filter (where cu.id is null)::int as customers,
           count(*) filter (where a.id is null)::int as agents,
           count(*) filter (where p.renewed_from_policy_id is not null and prev.id is null)::int
             as previous
      from public.policies p
      left join public.customers cu on cu.id = p.customer_id
      left join public.profiles a on a.id = p.agent_id
      left join public.policies prev on prev.id = p.renewed_from_policy_id
     where p.policy_number like 'B903/%' or p.policy_number like 'H903/%'`;
  assert.deepEqual(dangling, { customers: 0, agents: 0, previous: 0 });
  await sql.begin(async (tx) => {
    await tx`
      create temporary table keys_before on commit drop as
      select id, book_keys from public.customers where email like '%.s903@big.py360.test'`;
    await tx`select private.refresh_customer_book_keys(array(select id from keys_before))`;
    const [keys] = await tx`
      select count(*)::int as customers,
             count(*) filter (where cu.book_keys is distinct from k.book_keys)::int as changed
        from keys_before k join public.customers cu using (id)`;
    assert.deepEqual(keys, { customers: 2000, changed: 0 }, "the keys the trigger computes");
    throw new Rollback();
  }).catch(rolledBack);
});

dbTest("big book: the hidden outcomes are out of the model's reach", async () => {
  const sql = adminSql();
  // Nobody of the application may read them, and nothing of the application reads them.
  const [grants] = await sql`
    select bool_or(has_schema_privilege(r, 'simulation', 'usage')) as schema,
           bool_or(has_table_privilege(r, 'simulation.outcomes', 'select')) as outcomes,
           bool_or(has_table_privilege(r, 'simulation.books', 'select')) as books
      from unnest(array['anon', 'authenticated', 'service_role', 'api_authenticator']) r`;
  assert.deepEqual(grants, { schema: false, outcomes: false, books: false });
  const readers = await sql`
    select n.nspname || '.' || p.proname as name from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'private', 'auth') and p.prosrc ~* 'simulation\\.'
    union all
    select schemaname || '.' || viewname from pg_views
     where schemaname in ('public', 'private') and definition ~* 'simulation\\.'`;
  assert.deepEqual(
    readers.map((r) => r.name),
    [],
    "no function or view of the application reads simulation",
  );

  // A day of the book, rolled back at the end: the jobs open its cases, the activity is added,
  // the model scores; then every outcome is turned round and the model scores again, with
  // nothing else changed: the scores and their reasons must be the same.
  const session = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await session.begin(async (tx) => {
      const [{ as_of: asOf }] = await tx`select now() as as_of`;
      await tx`select private.run_daily_renewal_jobs(${asOf})`;
      const activity = await addCaseActivityIn(tx, { seed: 903, asOf });
      assert.ok(activity.cases > 400, `${activity.cases} open cases`);
      assert.ok(activity.messages > activity.cases / 2, `${activity.messages} messages`);
      assert.ok(activity.failed_payments > 0 && activity.clicks > 0 && activity.replies > 0);
      await tx`set local session_replication_role = origin`;
      const scores = async () => [
        ...await tx`
          select s.case_id, s.score, s.band, s.reasons::text
            from public.case_risk_scores s
            join public.renewal_cases c on c.id = s.case_id
            join public.policies p on p.id = c.policy_id
           where p.policy_number like 'B903/%'
           order by s.case_id`,
      ];
      await tx`select * from private.score_lapse_risk(${asOf})`;
      const before = await scores();
      assert.equal(before.length, activity.cases, "every open case of the book scored");
      assert.ok(new Set(before.map((s) => s.score)).size > 20, "scores spread");
      const reasons = new Set(
        before.flatMap((s) => JSON.parse(s.reasons).map((r: { feature: string }) => r.feature)),
      );
      for (
        const feature of ["earlier_lapses", "premium_change_pct", "failed_payments", "link_opened"]
      ) assert.ok(reasons.has(feature), `the book's ${feature} reaches the model`);

      const [flipped] = await tx`
        with f as (
          update simulation.outcomes set lapsed = not lapsed, propensity = 1 - propensity
           where seed = 903 returning 1)
        select count(*)::int as n from f`;
      assert.equal(flipped.n, 3000);
      await tx`select * from private.score_lapse_risk(${asOf})`;
      assert.deepEqual(await scores(), before, "the outcomes turned round, the same scores");
      throw new Rollback();
    }).catch(rolledBack);
  } finally {
    await session.end();
  }
  const [kept] = await sql`
    select count(*)::int as n from public.messages where idempotency_key like 'synthetic:903:%'`;
  assert.equal(kept.n, 0, "the day was rolled back");
});
