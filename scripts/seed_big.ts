// `npm run seed:big -- --policies 1000000 [--seed N] [--db-url URL]`: a deterministic synthetic
// book for benchmarks, into the dev database unless a URL is given.
import { parseArgs } from "node:util";
import { loadBigBook } from "./lib/big_book.ts";
import { prepareDevDatabase } from "./lib/dev.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    policies: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    "db-url": { type: "string" },
  },
});
const policies = Number(values.policies);
const seed = Number(values.seed);
if (!Number.isInteger(policies) || policies < 1 || !Number.isInteger(seed) || seed < 0) {
  console.error("usage: npm run seed:big -- --policies <n ≥ 1> [--seed <n ≥ 0>] [--db-url <url>]");
  Deno.exit(2);
}

const url = values["db-url"] ?? (await prepareDevDatabase()).cluster.url();
const started = performance.now();
await loadBigBook(url, { policies, seed });
console.log(
  `Loaded ${policies.toLocaleString("en-IN")} policies (seed ${seed}) in ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s. Open their cases with ` +
    "`select private.run_daily_renewal_jobs();`",
);
