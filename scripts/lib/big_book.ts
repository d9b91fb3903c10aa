// Loads a large synthetic book with the set-based generator in seed/big/book.sql, chunk by
// chunk, drawing a progress bar; adds its open cases' activity once the daily jobs have opened
// them. Used by `npm run seed:big` and the benchmarks. The book's history and its hidden
// outcomes (simulation.outcomes) come from the hidden process described in book.sql.
import postgres from "postgres";
import { projectRoot } from "./run.ts";

export interface BookSize {
  policies: number;
  seed: number;
}

const chunkSize = 50_000;
const encoder = new TextEncoder();

function progress(label: string, done: number, total: number, started: number) {
  // Redraw in place on a terminal; in a log, only the final line.
  if (done < total && !Deno.stdout.isTerminal()) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const bar = `[${"#".repeat(filled)}${" ".repeat(width - filled)}]`;
  const line = `${bar} ${label} ${done.toLocaleString("en-IN")}/${
    total.toLocaleString("en-IN")
  } ${seconds}s`;
  Deno.stdout.writeSync(encoder.encode(`\r${line}${done === total ? "\n" : ""}`));
}

async function inChunks(
  label: string,
  total: number,
  load: (first: number, last: number) => Promise<unknown>,
) {
  const started = performance.now();
  for (let first = 1; first <= total; first += chunkSize) {
    const last = Math.min(total, first + chunkSize - 1);
    await load(first, last);
    progress(label, last, total, started);
  }
}

/**
 * Generates the book into the database at `url` (a superuser's URL): the organisation, customers
 * with their older history (first policies, lapsed terms, suppressed addresses), current terms
 * with the terms they renewed (and those terms' late installments), and each current term's
 * hidden outcome in simulation.outcomes. Customers and policies are written with triggers off
 * (`session_replication_role = replica`): foreign keys hold by construction, and each customer
 * is written with the book keys the policies' trigger would have given them (the test of the
 * generator checks both). Refuses a seed that is already there.
 */
export async function loadBigBook(url: string, { policies, seed }: BookSize): Promise<void> {
  const customers = Math.ceil(policies / 1.5);
  const agents = Math.max(8, Math.round(policies / 1000));
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [taken] = await sql`select 1 from public.hierarchy_nodes where code = ${`BZ${seed}_1`}`;
    if (taken) throw new Error(`A book with seed ${seed} is already loaded; pick another --seed.`);
    await sql.file(`${projectRoot}/seed/big/book.sql`);
    await sql`
      insert into simulation.books (seed, policies, customers, agents, loaded_on)
      values (${seed}, ${policies}, ${customers}, ${agents}, current_date)`;
    await sql`select pg_temp.big_org(${seed}, ${agents})`;
    console.log(`organisation: ${agents.toLocaleString("en-IN")} agents`);
    await inChunks("customers", customers, (first, last) =>
      sql.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        await tx`select pg_temp.big_customers(${seed}, ${customers}, ${agents}, ${policies}, ${first}, ${last})`;
        await tx`select pg_temp.big_customer_history(${seed}, ${customers}, ${agents}, ${first}, ${last})`;
      }));
    await inChunks("policies ", policies, (first, last) =>
      sql.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        await tx`select pg_temp.big_previous_terms(${seed}, ${customers}, ${agents}, ${first}, ${last})`;
        await tx`select pg_temp.big_policies(${seed}, ${customers}, ${agents}, ${first}, ${last})`;
        await tx`
          insert into simulation.outcomes (policy_id, seed, policy_row, propensity, lapsed)
          select o.policy_id, ${seed}, o.policy_row, o.propensity, o.lapsed
            from pg_temp.big_outcomes(${seed}, ${customers}, ${agents}, ${first}, ${last}) o`;
      }));
    await sql`analyze`;
  } finally {
    await sql.end();
  }
}

/** What addCaseActivity wrote: open cases seen, and rows added per kind. */
export interface CaseActivity {
  cases: number;
  messages: number;
  links_clicked: number;
  clicks: number;
  failed_payments: number;
  replies: number;
}

/** Which book's cases, scored at which moment. */
export interface ActivityOf {
  seed: number;
  /** The as_of the model will score at; the activity is of the 60 days before its business date. */
  asOf: Date;
}

/**
 * Adds what the open cases of book `seed` show at `asOf` (reminders delivered, read or failed,
 * payment links clicked, failed payments, WhatsApp replies: seed/big/book.sql, big_activity),
 * drawn from the customers' hidden traits. Call it after the daily jobs have opened the cases;
 * once per book (a second call fails). Written with triggers off, as the history is; analyzes
 * the tables it wrote.
 */
export async function addCaseActivity(url: string, of: ActivityOf): Promise<CaseActivity> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const activity = await sql.begin((tx) => addCaseActivityIn(tx, of));
    await sql`analyze public.messages, public.tracked_links, public.link_clicks, public.payments,
                      public.whatsapp_windows, private.customer_last_replies`;
    return activity;
  } finally {
    await sql.end();
  }
}

/**
 * addCaseActivity within the open transaction `tx` of a superuser's session that has not loaded
 * the generator yet (tests use it to roll the whole day back); turns triggers off for the rest of
 * the transaction.
 */
export async function addCaseActivityIn(
  tx: postgres.TransactionSql,
  { seed, asOf }: ActivityOf,
): Promise<CaseActivity> {
  await tx.file(`${projectRoot}/seed/big/book.sql`);
  await tx`set local session_replication_role = replica`;
  const [{ activity }] = await tx`select pg_temp.big_activity(${seed}, ${asOf}) as activity`;
  return activity as CaseActivity;
}
