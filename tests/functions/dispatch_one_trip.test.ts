// asServiceInOneTrip (functions/_shared/db.ts), the one round trip of the dispatcher's claim and
// results and of the webhooks' record: it runs as service_role with service_role's claims, every
// interpolated value arrives exactly as sent (quotes, backslashes, dollar signs, JSON) and never
// as SQL, the role ends with the call, and a failure leaves nothing behind.
import assert from "node:assert/strict";
import { asCaller, asServiceInOneTrip } from "../../functions/_shared/db.ts";
import { adminSql, dbTest } from "./_helpers.ts";

dbTest("one trip: runs as service_role, and the role ends with the call", async () => {
  const [row] = await asServiceInOneTrip<{ who: string; claims: string }[]>`
    select current_user::text as who, current_setting('request.jwt.claims', true) as claims`;
  assert.equal(row.who, "service_role");
  assert.deepEqual(JSON.parse(row.claims), { role: "service_role" });
  // The pool's next transaction as anon is anon, not service_role.
  const [after] = await asCaller({ role: "anon" }, (tx) => tx`select current_user::text as who`);
  assert.equal(after.who, "anon");
});

dbTest("one trip: values arrive exactly as sent, never as SQL", async () => {
  const tricky = [
    "plain",
    "it's",
    "back\\slash \\' and \\\\",
    "'; drop table public.messages; --",
    "$$ $tag$ E'x'",
    "हिन्दी ✓ \u2028 line",
    "",
  ];
  for (const text of tricky) {
    const [row] = await asServiceInOneTrip<{ value: string }[]>`select ${text}::text as value`;
    assert.equal(row.value, text);
  }
  const object = { a: 'it\'s \\ "q"', n: -12.5, list: [1, null, "x"], nested: { t: true } };
  const [json] = await asServiceInOneTrip<{ value: unknown }[]>`select ${object}::jsonb as value`;
  assert.deepEqual(json.value, object);
  const [numbers] = await asServiceInOneTrip<{ sum: string; yes: boolean; none: null }[]>`
    select (${-3} - ${-4})::text as sum, ${true} as yes, ${null}::text as none`;
  assert.deepEqual({ ...numbers }, { sum: "1", yes: true, none: null });
  const [{ count }] = await adminSql()`select count(*)::int as count from public.messages`;
  assert.ok(count >= 0, "public.messages is still there");
  await assert.rejects(asServiceInOneTrip`select ${"a\0b"}::text`, /NUL/);
  await assert.rejects(asServiceInOneTrip`select ${Number.NaN}`, /NaN/);
});

dbTest("one trip: a failing statement changes nothing and the next call works", async () => {
  // A setting flipped, then the statement fails. (It inserted a new key before; a key now needs
  // its rule in private.setting_rules, which only a migration adds.)
  const key = "ENABLE_SOCIAL_INTEGRATIONS";
  const [before] = await adminSql()`select value from public.app_settings where key = ${key}`;
  assert.equal(typeof before.value, "boolean");
  await assert.rejects(
    asServiceInOneTrip`
      with flipped as (
        update public.app_settings set value = to_jsonb(not (value #>> '{}')::boolean)
         where key = ${key} returning 1)
      select 1 / (select count(*) - 1 from flipped)`,
    /division by zero/,
  );
  const [after] = await adminSql()`select value from public.app_settings where key = ${key}`;
  assert.equal(after.value, before.value, "the update went with the failure");
  const [row] = await asServiceInOneTrip<{ who: string }[]>`select current_user::text as who`;
  assert.equal(row.who, "service_role");
});
