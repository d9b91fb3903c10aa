// `npm run seed:big -- --policies 1000000 [--seed N] [--db-url URL] [--open-cases]`: a
// deterministic synthetic book for benchmarks, into the dev database unless a URL is given, with
// its history and hidden outcomes (seed/big/book.sql). `--open-cases` then runs the daily jobs
// (which open the cases in the renewal window) and adds those cases' activity as of now, so that
// `private.score_lapse_risk(now())` has something to read. Last, the analytics facts of the whole
// database are rebuilt (private.rebuild_analytics).
import { parseArgs } from "node:util";
import postgres from "postgres";
import { addCaseActivity, loadBigBook } from "./lib/big_book.ts";
import { prepareDevDatabase } from "./lib/dev.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    policies: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    "db-url": { type: "string" },
    "open-cases": { type: "boolean", default: false },
  },
});
const policies = Number(values.policies);
const seed = Number(values.seed);
if (!Number.isInteger(policies) || policies < 1 || !Number.isInteger(seed) || seed < 0) {
  console.error(
    "usage: npm run seed:big -- --policies <n ≥ 1> [--seed <n ≥ 0>] [--db-url <url>] [--open-cases]",
  );
  Deno.exit(2);
}

const url = values["db-url"] ?? (await prepareDevDatabase()).cluster.url();
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
await loadBigBook(url, { policies, seed });
console.log(`Loaded ${policies.toLocaleString("en-IN")} policies (seed ${seed}) in ${elapsed()}.`);
if (values["open-cases"]) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [{ as_of: asOf, jobs }] = await sql`
      select now() as as_of, private.run_daily_renewal_jobs(now()) as jobs`;
    await sql`analyze`;
    console.log(`Daily jobs: ${JSON.stringify(jobs)}`);
    const activity = await addCaseActivity(url, { seed, asOf });
    console.log(
      `Case activity as of ${asOf.toISOString()}: ${JSON.stringify(activity)}; ${elapsed()}.`,
    );
  } finally {
    await sql.end();
  }
} else {
  console.log(
    "Open their cases with `select private.run_daily_renewal_jobs();` (or load with --open-cases, " +
      "which adds their activity too).",
  );
}

// The analytics facts of everything now in the database (pg_cron keeps them fresh from here).
const facts = postgres(url, { max: 1, onnotice: () => {} });
try {
  const [{ built }] = await facts`select private.rebuild_analytics(null, null) as built`;
  console.log(`Analytics facts rebuilt: ${JSON.stringify(built)}; ${elapsed()}.`);
} finally {
  await facts.end();
}
