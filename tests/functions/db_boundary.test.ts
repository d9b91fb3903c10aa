// The functions fail closed: nothing but functions/_shared/db.ts reaches postgres, its pool is
// reachable only through asCaller()/asService(), and a login with rights of its own is refused.
import assert from "node:assert/strict";
import postgres from "postgres";
import { asCaller } from "../../functions/_shared/db.ts";
import { adminDbUrl, adminSql, dbTest } from "./_helpers.ts";

const functionsDir = new URL("../../functions/", import.meta.url);
const dbModule = "_shared/db.ts";
/** What code outside db.ts may import from it: the role-switching helpers and types. */
const allowedImports = new Set([
  "asCaller",
  "asService",
  "apiRoles",
  "ApiRole",
  "Claims",
  "Tx",
  "DatabaseUnavailable",
  "listen",
  "asServiceInOneTrip",
  "InlineValue",
]);
/** The only files that read the environment; everything else gets it through config(). */
const envReaders = new Set(["_shared/config.ts", "_shared/log.ts"]);

async function sourceFiles(dir: URL, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) {
      files.push(...await sourceFiles(new URL(`${entry.name}/`, dir), `${path}/`));
    } else if (/\.(ts|tsx|js|mjs)$/.test(entry.name)) files.push(path);
  }
  return files.sort();
}

/** Why a file of functions/ (path relative to it) breaks the database boundary, if it does. */
function violations(path: string, source: string): string[] {
  if (path === dbModule) return [];
  const found: string[] = [];
  // `import type postgres from "postgres"` is erased at run time and reaches nothing.
  const runtimeImport =
    /(?:\b(?:import|export)(?!\s+type\b)\s+[^;]*?\bfrom|\bimport\s*\()\s*["'](?:npm:)?postgres(?:@[^"'/]*)?(?:\/[^"']*)?["']/;
  if (runtimeImport.test(source)) found.push(`${path} imports postgres`);
  for (const match of source.matchAll(/import\s+(type\s+)?([^;]*?)\s+from\s+["']([^"']+)["']/g)) {
    if (!match[3].endsWith("/_shared/db.ts") && match[3] !== "./db.ts") continue;
    const names = match[2].match(/^\{([^}]*)\}$/s);
    if (!names) {
      found.push(`${path} imports db.ts as a whole (${match[2]})`);
      continue;
    }
    for (const name of names[1].split(",").map((n) => n.trim()).filter(Boolean)) {
      const imported = name.replace(/^type\s+/, "").split(/\s+as\s+/)[0];
      if (!allowedImports.has(imported)) found.push(`${path} imports ${imported} from db.ts`);
    }
  }
  if (/import\s*\(\s*["'][^"']*_shared\/db\.ts["']/.test(source)) {
    found.push(`${path} imports db.ts dynamically`);
  }
  if (!envReaders.has(path) && /\bDeno\.env\b|\bprocess\.env\b/.test(source)) {
    found.push(`${path} reads the environment itself`);
  }
  return found;
}

Deno.test("db boundary: the scanner catches each way round the boundary", () => {
  const caught = (source: string) => violations("api/x/handlers.ts", source);
  assert.deepEqual(caught(`import postgres from "postgres";`), [
    "api/x/handlers.ts imports postgres",
  ]);
  assert.equal(caught(`import p from "npm:postgres@3.4.9";`).length, 1);
  assert.equal(caught(`const p = await import("postgres");`).length, 1);
  assert.equal(caught(`import { type Sql, default as p } from "postgres";`).length, 1);
  assert.equal(caught(`export { default as sql } from "postgres";`).length, 1);
  assert.deepEqual(caught(`import type postgres from "postgres";`), []);
  assert.deepEqual(caught(`import { db, asCaller } from "../../_shared/db.ts";`), [
    "api/x/handlers.ts imports db from db.ts",
  ]);
  assert.equal(caught(`import * as db from "../../_shared/db.ts";`).length, 1);
  assert.equal(caught(`const m = await import("../../_shared/db.ts");`).length, 1);
  assert.equal(caught(`const url = Deno.env.get("SUPABASE_DB_URL");`).length, 1);
  assert.deepEqual(
    caught(
      `import { asCaller, type Tx } from "../../_shared/db.ts";\nimport type { Claims } ` +
        `from "../../_shared/db.ts";\nconst role = "postgres";`,
    ),
    [],
  );
});

Deno.test("db boundary: nothing in functions/ but db.ts reaches postgres or the pool", async () => {
  const files = await sourceFiles(functionsDir);
  assert.ok(files.includes(dbModule) && files.length > 10, `scanned ${files.length} files`);
  const importers = [];
  const found: string[] = [];
  for (const path of files) {
    const source = await Deno.readTextFile(new URL(path, functionsDir));
    if (source.includes("_shared/db.ts")) importers.push(path);
    found.push(...violations(path, source));
  }
  assert.deepEqual(found, []);
  assert.ok(importers.length >= 5, "the handlers do import db.ts, through the allowed names");
});

Deno.test("db boundary: db.ts exports no pool, only the role-switching helpers", async () => {
  const exported = Object.keys(await import("../../functions/_shared/db.ts")).sort();
  assert.deepEqual(exported, [
    "DatabaseUnavailable",
    "apiRoles",
    "asCaller",
    "asService",
    "asServiceInOneTrip",
    "closeDb",
    "listen",
  ]);
});

dbTest("db boundary: the functions' login can read nothing until it switches role", async () => {
  const sql = postgres(Deno.env.get("FUNCTIONS_DB_URL")!, { max: 1, onnotice: () => {} });
  try {
    const [who] = await sql`select session_user::text as login`;
    assert.equal(who.login, "api_authenticator");
    await assert.rejects(sql`select count(*) from public.customers`, /permission denied/);
    await assert.rejects(sql`select count(*) from public.renewal_cases`, /permission denied/);
    await assert.rejects(sql`select private.is_admin()`, /permission denied/);
    const [seen] = await sql.begin(async (tx) => {
      await tx`select set_config('role', 'service_role', true)`;
      return await tx`select count(*)::int as customers from public.customers`;
    });
    assert.ok(seen.customers > 0, "as service_role it reads the demo book");
  } finally {
    await sql.end();
  }
});

/** Runs the api app and asService() in a fresh process logged in with `url`. */
async function probe(url: string) {
  const script = `
    import app from "${new URL("../../functions/api/app.ts", import.meta.url)}";
    import { asService, closeDb } from "${new URL(
    "../../functions/_shared/db.ts",
    import.meta.url,
  )}";
    const health = await app.request("/api/health");
    let service;
    try {
      service = { ok: (await asService((tx) => tx\`select 1 as one\`))[0].one === 1 };
    } catch (error) {
      service = { ok: false, status: error.status, message: error.message };
    }
    await closeDb();
    console.log(JSON.stringify({
      health: { status: health.status, type: health.headers.get("content-type"),
                body: await health.json() },
      service,
    }));
    Deno.exit(0);`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { FUNCTIONS_DB_URL: url, LOG_LEVEL: "error" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  try {
    return JSON.parse(lines.at(-1)!);
  } catch {
    throw new Error(`probe failed: ${new TextDecoder().decode(output.stderr)}`);
  }
}

/** A login role made for one test, as the superuser; dropped by the returned function. */
async function loginRole(attributes: string, grants: string[]) {
  const sql = adminSql();
  const name = `probe_${crypto.randomUUID().slice(0, 8)}`;
  const password = crypto.randomUUID();
  await sql.unsafe(`create role ${name} login password '${password}' ${attributes}`);
  for (const grant of grants) await sql.unsafe(grant.replaceAll("$role", name));
  const url = new URL(adminDbUrl());
  url.username = name;
  url.password = password;
  return {
    url: url.href,
    drop: () => sql.unsafe(`drop owned by ${name}; drop role ${name}`),
  };
}

const apiMemberships = "grant anon, authenticated, service_role to $role";

function assertRefused(
  result: { health: Record<string, unknown>; service: Record<string, unknown> },
  reason: RegExp,
) {
  assert.equal(result.health.status, 503);
  assert.equal(result.health.type, "application/problem+json");
  const body = result.health.body as Record<string, unknown>;
  assert.equal(body.title, "Service Unavailable");
  assert.equal(body.detail, "The database is not available.", "the reason stays in the log");
  assert.equal(result.service.ok, false);
  assert.equal(result.service.status, 503);
  assert.match(result.service.message as string, reason);
}

dbTest(
  "db boundary: the functions' own login passes the checks (the probes' control)",
  async () => {
    const result = await probe(Deno.env.get("FUNCTIONS_DB_URL")!);
    assert.deepEqual(result, {
      health: { status: 200, type: "application/json", body: { status: "ok" } },
      service: { ok: true },
    });
  },
);

dbTest("db boundary: a superuser login is refused with a 503", async () => {
  assertRefused(await probe(adminDbUrl()), /login role "postgres": it is a superuser/);
});

dbTest("db boundary: a BYPASSRLS login is refused", async () => {
  const role = await loginRole("noinherit bypassrls", [apiMemberships]);
  try {
    assertRefused(await probe(role.url), /bypasses row-level security/);
  } finally {
    await role.drop();
  }
});

dbTest("db boundary: a login with a table privilege of its own is refused", async () => {
  const role = await loginRole("noinherit", [
    apiMemberships,
    "grant select on public.customers to $role",
  ]);
  try {
    assertRefused(await probe(role.url), /privileges of its own on public\.customers/);
  } finally {
    await role.drop();
  }
});

dbTest("db boundary: a login that inherits its API roles' rights is refused", async () => {
  const role = await loginRole("inherit", [apiMemberships]);
  try {
    assertRefused(await probe(role.url), /inherits its roles' privileges/);
  } finally {
    await role.drop();
  }
});

dbTest("db boundary: a login that cannot switch to the API roles is refused", async () => {
  const role = await loginRole("noinherit", ["grant anon to $role"]);
  try {
    assertRefused(await probe(role.url), /not a member of authenticated, service_role/);
  } finally {
    await role.drop();
  }
});

dbTest("db: each API role runs under its own statement timeout, as PostgREST sets it", async () => {
  const timeouts = await Promise.all(
    (["anon", "authenticated", "service_role"] as const).map((role) =>
      asCaller({ role }, async (tx) => {
        const [row] = await tx`select current_setting('statement_timeout') as timeout`;
        return row.timeout;
      })
    ),
  );
  // supabase/platform/00_roles.sql: anon 3s, authenticated 8s, service_role none (the login's).
  assert.deepEqual(timeouts.slice(0, 2), ["3s", "8s"]);
  assert.notEqual(timeouts[2], "8s");
});
