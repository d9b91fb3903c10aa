// The synthetic book generator behind `npm run seed:big` and the benchmarks.
import assert from "node:assert/strict";
import { loadBigBook } from "../../scripts/lib/big_book.ts";
import { adminSql, dbTest } from "./_helpers.ts";

const url = Deno.env.get("SUPABASE_DB_URL")!;

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
