// `npm run bench -- [--policies 1000000] [--seed 1] [--iterations 300]`
//
// On a throwaway cluster with a synthetic book:
//  1. the daily jobs: the first run over the whole book (a backfill that opens every case in its
//     window at once), the same day again (must do nothing), then two regular days;
//  2. an agent's first page of cases (50 rows) through the API's own query, under RLS, against
//     the same rows read as service_role with the filter spelled out: p50/p95 and their ratio.
// Figures are printed; nothing here passes or fails.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { loadBigBook } from "../scripts/lib/big_book.ts";
import { throwawayCluster } from "../scripts/lib/cluster.ts";
import { ensureDebianPackages } from "../scripts/lib/packages.ts";
import { localAuthenticatorUrl } from "../scripts/lib/keys.ts";
import {
  applyPlatform,
  pushMigrations,
  setLocalAuthenticatorPassword,
} from "../scripts/lib/schema.ts";
import { removeOnExitSignals } from "../scripts/lib/signals.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    policies: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    iterations: { type: "string", default: "300" },
  },
});
const policies = Number(values.policies);
const iterations = Number(values.iterations);

await ensureDebianPackages();
const cluster = await throwawayCluster();
// Removed at the end, or on Ctrl-C / SIGTERM.
const removeCluster = removeOnExitSignals(cluster);
console.log(`throwaway cluster in ${cluster.dataDir}`);
try {
  await cluster.init();
  await cluster.start();
  const url = cluster.url();
  await applyPlatform(url);
  await pushMigrations(url);
  console.log(`\nLoading ${policies.toLocaleString("en-IN")} policies ...`);
  await loadBigBook(url, { policies, seed: Number(values.seed) });

  // The API's pool logs in as api_authenticator, as the functions do; the jobs and the look-ups
  // below run on a superuser connection of the bench's own.
  await setLocalAuthenticatorPassword(url);
  Deno.env.set("FUNCTIONS_DB_URL", localAuthenticatorUrl(url));
  Deno.env.set("DB_POOL_SIZE", "2");
  const { asCaller, asService, closeDb } = await import("../functions/_shared/db.ts");
  const { listCasePage } = await import("../functions/api/cases/queries.ts");
  type Tx = Parameters<Parameters<typeof asService>[0]>[0];

  // 1. The daily job.
  const timed = async (label: string, run: () => Promise<unknown>) => {
    const started = performance.now();
    const result = await run();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${label.padEnd(44)} ${seconds.toFixed(2).padStart(7)} s  ${JSON.stringify(result)}`,
    );
    return seconds;
  };
  console.log("\nDaily renewal jobs (run_daily_renewal_jobs)");
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const runJobs = (days: number) => async () =>
    (await sql`select private.run_daily_renewal_jobs(now() + ${days} * interval '1 day') as r`)[0]
      .r;
  const backfill = await timed("first run: backfill of the whole book", runJobs(0));
  await timed("same day again (must change nothing)", runJobs(0));
  const steady = [
    await timed("the next day", runJobs(1)),
    await timed("the day after", runJobs(2)),
  ];
  await sql`analyze`;

  // 2. Case pages.
  const [agent] = await sql`
    select assignee_id as id, count(*)::int as cases from public.renewal_cases
     group by assignee_id order by count(*), assignee_id
     offset (select count(distinct assignee_id) / 2 from public.renewal_cases) limit 1`;
  const [manager] = await sql`
    select p.id, p.node_id, (select count(*)::int from public.renewal_cases c
                               join public.profiles a on a.id = c.assignee_id
                               join public.hierarchy_nodes an on an.id = a.node_id
                               join public.hierarchy_nodes mn on mn.id = p.node_id
                              where an.path operator(extensions.<@) mn.path) as cases
      from public.profiles p where p.role = 'manager' and p.email like '%@big.py360.test'
     order by p.email limit 1`;
  const agentClaims = { role: "authenticated" as const, sub: agent.id };
  const managerClaims = { role: "authenticated" as const, sub: manager.id };
  const page = 51; // the API asks for one more row to know whether there is a next page

  const variants: Record<string, () => Promise<{ id: string }[]>> = {
    "agent, API page (RLS)": () =>
      asCaller(agentClaims, (tx: Tx) => listCasePage(tx, { limit: page })),
    "agent, bare RLS query": () =>
      asCaller(
        agentClaims,
        (tx: Tx) =>
          tx`select c.id from public.renewal_cases c order by c.due_date, c.id limit ${page}`,
      ),
    "agent, RLS + assignee=me": () =>
      asCaller(agentClaims, (tx: Tx) => listCasePage(tx, { assigneeId: agent.id, limit: page })),
    "service_role, assignee filter": () =>
      asService((tx: Tx) => listCasePage(tx, { assigneeId: agent.id, limit: page })),
    "branch manager, API page (RLS)": () =>
      asCaller(managerClaims, (tx: Tx) => listCasePage(tx, { limit: page })),
    "service_role, node filter": () =>
      asService((tx: Tx) => listCasePage(tx, { nodeId: manager.node_id, limit: page })),
  };

  const ids = async (name: string) => (await variants[name]()).map((row) => row.id).join();
  if (await ids("agent, API page (RLS)") !== await ids("service_role, assignee filter")) {
    throw new Error("the agent's RLS page and the service_role page differ");
  }
  if (await ids("branch manager, API page (RLS)") !== await ids("service_role, node filter")) {
    throw new Error("the manager's RLS page and the service_role page differ");
  }

  const samples: Record<string, number[]> = Object.fromEntries(
    Object.keys(variants).map((k) => [k, []]),
  );
  for (let round = 0; round < iterations + 20; round++) {
    for (const [name, run] of Object.entries(variants)) {
      const started = performance.now();
      await run();
      if (round >= 20) samples[name].push(performance.now() - started);
    }
  }
  const percentile = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  };
  const stats = Object.fromEntries(
    Object.entries(samples).map((
      [name, values],
    ) => [name, { p50: percentile(values, 50), p95: percentile(values, 95) }]),
  );
  console.log(
    `\nFirst page of cases (50 rows), ${iterations} runs each, interleaved; ` +
      `agent holds ${agent.cases} cases, the branch ${manager.cases}`,
  );
  for (const [name, { p50, p95 }] of Object.entries(stats)) {
    console.log(
      `${name.padEnd(32)} p50 ${p50.toFixed(2).padStart(6)} ms   p95 ${
        p95.toFixed(2).padStart(6)
      } ms`,
    );
  }
  const ratio = (a: string, b: string, p: "p50" | "p95") => (stats[a][p] / stats[b][p]).toFixed(2);
  const comparisons: [string, string, string, string][] = [
    [
      "agent, API page",
      "agent, API page (RLS)",
      "service_role, assignee filter",
      "  (goal <= 1.5x, p95 <= 20 ms)",
    ],
    ["agent, bare RLS query", "agent, bare RLS query", "service_role, assignee filter", ""],
    ["agent, assignee=me", "agent, RLS + assignee=me", "service_role, assignee filter", ""],
    ["branch manager", "branch manager, API page (RLS)", "service_role, node filter", ""],
  ];
  console.log("");
  for (const [label, rls, service, goal] of comparisons) {
    console.log(
      `RLS / service_role, ${label.padEnd(22)} p50 ${ratio(rls, service, "p50")}x  ` +
        `p95 ${ratio(rls, service, "p95")}x${goal}`,
    );
  }
  console.log(
    `\nDaily jobs over the book: ${
      Math.max(...steady).toFixed(2)
    } s on a regular day (goal <= 10 s); ` +
      `${backfill.toFixed(2)} s for the first run, which opens every case in the window at once`,
  );
  await closeDb();
  await sql.end();
} finally {
  await removeCluster();
}
