// Loads a large synthetic book with the set-based generator in seed/big/book.sql, chunk by
// chunk, drawing a progress bar. Used by `npm run seed:big` and the benchmarks.
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

/** Generates the book into the database at `url`; refuses a seed that is already there. */
export async function loadBigBook(url: string, { policies, seed }: BookSize): Promise<void> {
  const customers = Math.ceil(policies / 1.5);
  const agents = Math.max(8, Math.round(policies / 1000));
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [taken] = await sql`select 1 from public.hierarchy_nodes where code = ${`BZ${seed}_1`}`;
    if (taken) throw new Error(`A book with seed ${seed} is already loaded; pick another --seed.`);
    await sql.file(`${projectRoot}/seed/big/book.sql`);
    await sql`select pg_temp.big_org(${seed}, ${agents})`;
    console.log(`organisation: ${agents.toLocaleString("en-IN")} agents`);
    await inChunks(
      "customers",
      customers,
      (first, last) => sql`select pg_temp.big_customers(${seed}, ${first}, ${last})`,
    );
    await inChunks(
      "policies ",
      policies,
      (first, last) =>
        sql`select pg_temp.big_policies(${seed}, ${customers}, ${agents}, ${first}, ${last})`,
    );
    await sql`analyze`;
  } finally {
    await sql.end();
  }
}
