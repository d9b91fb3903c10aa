// Money as integer paise: int8 and integers inside json reach the functions as numbers, and a
// value JavaScript cannot hold exactly is refused rather than rounded.
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  paiseTypes,
  parseInt8,
  parseJson,
  UnsafeIntegerError,
} from "../../functions/_shared/paise.ts";
import { dbTest } from "./_helpers.ts";

const largest = Number.MAX_SAFE_INTEGER; // 2^53 - 1

Deno.test("paise: int8 text parses to a number up to 2^53 - 1 and no further", () => {
  assert.equal(parseInt8("1250000"), 1250000);
  assert.equal(parseInt8("0"), 0);
  assert.equal(parseInt8(String(largest)), largest);
  assert.equal(parseInt8(String(-largest)), -largest);
  assert.throws(() => parseInt8("9007199254740992"), UnsafeIntegerError);
  assert.throws(() => parseInt8("9007199254740993"), UnsafeIntegerError);
  assert.throws(() => parseInt8("-9007199254740993"), UnsafeIntegerError);
});

Deno.test("paise: json integers beyond 2^53 - 1 are refused, not rounded", () => {
  assert.deepEqual(parseJson('{"premium": 1250000, "rate": 62.5, "n": null}'), {
    premium: 1250000,
    rate: 62.5,
    n: null,
  });
  assert.deepEqual(parseJson(`[${largest}]`), [largest]);
  assert.throws(() => parseJson('{"premium": 9007199254740993}'), UnsafeIntegerError);
  assert.throws(() => parseJson('[{"a": [9007199254740992]}]'), UnsafeIntegerError);
});

dbTest(
  "paise: a pool with paiseTypes reads bigint and json money as numbers, or refuses",
  async () => {
    const sql = postgres(Deno.env.get("SUPABASE_DB_URL")!, {
      types: paiseTypes,
      max: 1,
      onnotice: () => {},
    });
    try {
      const [row] = await sql`
      select 1250000::bigint as amount, ${String(largest)}::bigint as largest,
             json_build_object('premium', 1500000::bigint) as policy,
             jsonb_build_object('premium', 1500000::bigint) as policy_b,
             array[1, 2]::bigint[] as amounts`;
      assert.deepEqual(
        { ...row },
        {
          amount: 1250000,
          largest,
          policy: { premium: 1500000 },
          policy_b: { premium: 1500000 },
          amounts: [1, 2],
        },
      );
      await assert.rejects(sql`select 9007199254740993::bigint as amount`, UnsafeIntegerError);
      await assert.rejects(
        sql`select json_build_object('premium', 9007199254740993::bigint) as policy`,
        UnsafeIntegerError,
      );
      // Parameters still go in as before, json included.
      const [back] = await sql`select ${sql.json({ a: 1 })}::jsonb as j, ${"42"}::bigint as n`;
      assert.deepEqual({ ...back }, { j: { a: 1 }, n: 42 });
    } finally {
      await sql.end();
    }
  },
);
