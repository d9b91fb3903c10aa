// `npm run analyst` (scripts/analyst.ts) against the test database: the login it makes works with
// the password it prints, carries the group's settings, reads analytics and nothing else; bad
// names and refusals change nothing; remove ends it. And the API exposes no schema but public.
import assert from "node:assert/strict";
import postgres from "postgres";
import { parse } from "smol-toml";
import { scramSha256Verifier } from "../../scripts/lib/analyst_logins.ts";
import { projectRoot } from "../../scripts/lib/run.ts";
import { adminDbUrl, adminSql, dbTest } from "./_helpers.ts";

/** Runs scripts/analyst.ts with `args` against the test database. */
async function analyst(...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/analyst.ts", ...args, "--db-url", adminDbUrl()],
    cwd: projectRoot,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A connection as `role` with `password`. */
function loginAs(role: string, password: string): postgres.Sql {
  const url = new URL(adminDbUrl());
  url.username = role;
  url.password = password;
  return postgres(url.href, { max: 1, onnotice: () => {}, connect_timeout: 10 });
}

async function sqlState(query: Promise<unknown>): Promise<string | undefined> {
  try {
    await query;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/** Logins that are members of analyst, by name. */
async function analystMembers(): Promise<string[]> {
  const rows = await adminSql()`
    select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.member
     where m.roleid = 'analyst'::regrole order by 1`;
  return rows.map((row) => row.rolname as string);
}

const unique = () => `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;

dbTest("analyst add: a login that reads analytics only, with the group's settings", async () => {
  const name = unique();
  const role = `analyst_${name}`;
  const added = await analyst("add", name);
  let session: postgres.Sql | undefined;
  try {
    assert.equal(added.code, 0, added.stderr);
    const password = added.stdout.match(/^Password \(.*\): (\S+)$/m)?.[1];
    assert.ok(password && password.length >= 32, added.stdout);
    assert.match(added.stdout, new RegExp(`^Connect: psql 'postgresql://${role}:`, "m"));

    const [stored] = await adminSql()`
      select rolpassword, rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,
             rolconnlimit,
             array(select roleid::regrole::text from pg_auth_members where member = a.oid) as groups
        from pg_authid a where rolname = ${role}`;
    assert.match(stored.rolpassword, /^SCRAM-SHA-256\$4096:/, "only a verifier is stored");
    assert.ok(!stored.rolpassword.includes(password));
    assert.deepEqual(
      [stored.rolcanlogin, stored.rolsuper, stored.rolbypassrls, stored.rolcreaterole],
      [true, false, false, false],
    );
    assert.equal(stored.rolcreatedb, false);
    assert.equal(stored.rolconnlimit, 5);
    assert.deepEqual(stored.groups, ["analyst"]);

    session = loginAs(role, password);
    const settings = await session`
      select current_setting('statement_timeout') as statement_timeout,
             current_setting('idle_in_transaction_session_timeout') as idle,
             current_setting('default_transaction_read_only') as read_only,
             current_setting('search_path') as search_path`;
    assert.deepEqual({ ...settings[0] }, {
      statement_timeout: "1min",
      idle: "5min",
      read_only: "on",
      search_path: "analytics",
    });
    const [cases] = await session`select count(*)::int as n from cases`;
    assert.ok(cases.n > 0, "analytics.cases, by the search path");
    const [customers] = await session`
      select count(*)::int as n, count(distinct customer_key)::int as keys from customers`;
    assert.ok(customers.n > 0 && customers.keys === customers.n);
    assert.equal(await sqlState(session`select 1 from public.customers`), "42501");
    assert.equal(await sqlState(session`select 1 from private.analytics_pseudonym_key`), "42501");
    assert.equal(await sqlState(session`select 1 from auth.users`), "42501");
    // Read-only transactions: not even a temporary table.
    assert.equal(await sqlState(session`create temporary table scratch (one int)`), "25006");

    const listed = await analyst("list");
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(`^${role}\\t1 of 5 sessions\\tAnalyst login made by`, "m"),
    );

    const again = await analyst("add", name);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`${role} exists already`));
    const [still] = await session`select 1 as one`;
    assert.equal(still.one, 1, "a second add leaves the first login and its password alone");

    const removed = await analyst("remove", name);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`^Removed ${role} \\(1 session ended\\)\\.$`, "m"));
    assert.ok(!(await analystMembers()).includes(role));
    const afterwards = loginAs(role, password);
    try {
      assert.equal(await sqlState(afterwards`select 1`), "28P01", "the login is gone");
    } finally {
      await afterwards.end();
    }
    assert.doesNotMatch((await analyst("list")).stdout, new RegExp(role));
  } finally {
    await session?.end({ timeout: 1 }).catch(() => {});
    await adminSql().unsafe(`drop role if exists ${role}`).catch(() => {});
  }
});

dbTest("analyst add: a bad name is refused with the rule, and nothing is created", async () => {
  const before = await analystMembers();
  for (const name of ["Priya", "x", "priya;drop role postgres", "a".repeat(31)]) {
    const result = await analyst("add", name);
    assert.equal(result.code, 2, `${JSON.stringify(name)}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, /a name is 2 to 30 characters: lower-case letters, digits and _/);
  }
  for (const args of [[], ["remove"], ["list", "extra"], ["drop", "priya"]]) {
    const result = await analyst(...args);
    assert.equal(result.code, 2, args.join(" "));
    assert.match(result.stderr, /^usage: npm run analyst -- add <name> \| remove <name> \| list/);
  }
  assert.deepEqual(await analystMembers(), before);
});

dbTest("analyst remove: only a plain analyst login, never another role", async () => {
  const name = unique();
  const role = `analyst_${name}`;
  const sql = adminSql();
  try {
    const missing = await analyst("remove", name);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), `There is no role ${role}.`);
    // A role that merely carries the prefix is not the script's to drop.
    await sql.unsafe(`create role ${role} login`);
    const notMember = await analyst("remove", name);
    assert.equal(notMember.code, 1);
    assert.match(notMember.stderr, /is not a plain analyst login .*: not removed\./);
    // Nor a member of analyst that is also something else.
    await sql.unsafe(`grant analyst to ${role}; grant authenticated to ${role}`);
    const twoGroups = await analyst("remove", name);
    assert.equal(twoGroups.code, 1);
    const [exists] = await sql`select count(*)::int as n from pg_roles where rolname = ${role}`;
    assert.equal(exists.n, 1, "still there");
  } finally {
    await sql.unsafe(`drop role if exists ${role}`);
  }
});

dbTest("analyst logins: the verifier is the one Postgres computes for the same salt", async () => {
  // Postgres hashes a clear-text password itself (random salt); ours, given that salt and
  // iteration count, must come out the same.
  const password = "pencil-" + unique();
  const role = `analyst_${unique()}`;
  const [row] = await adminSql().begin(async (tx) => {
    await tx`set local password_encryption = 'scram-sha-256'`;
    await tx.unsafe(`create role ${role} password '${password}'`);
    const rows = await tx`select rolpassword from pg_authid where rolname = ${role}`;
    await tx.unsafe(`drop role ${role}`);
    return rows;
  });
  const [, iterations, salt] = row.rolpassword.match(/^SCRAM-SHA-256\$(\d+):([^$]+)\$/)!;
  const saltBytes = Uint8Array.from(atob(salt), (c) => c.charCodeAt(0));
  assert.equal(scramSha256Verifier(password, saltBytes, Number(iterations)), row.rolpassword);
  assert.throws(() => scramSha256Verifier("naïve"), /printable ASCII/);
});

Deno.test("the API exposes public only: analytics and private are never among its schemas", async () => {
  const config = parse(await Deno.readTextFile(`${projectRoot}/supabase/config.toml`)) as {
    api: { schemas: string[] };
  };
  assert.deepEqual(config.api.schemas, ["public"]);
});
