// The runbooks (docs/runbooks/*.md) name exact commands, settings, SQL and endpoints of this
// project; this keeps them from rotting silently. For each runbook: every `npm` script and
// `supabase` subcommand exists (the pinned CLI's own help is asked), every secret it sets is a
// variable the functions read, every setting is an app_settings key or such a variable, every
// alert rule exists, every SQL function, table and view it names exists, every API call is an
// operation of the OpenAPI document (and every GET without a placeholder answers an admin 200),
// every field of the health check it names is in an admin's answer, every file and migration
// exists, every snake_case name it puts in backticks occurs in the code,
// and every ```sql block runs (as postgres, rolled back) unless marked
// `<!-- runbooks.test: skip (reason) -->` just above it.
import assert from "node:assert/strict";
import packageJson from "../../package.json" with { type: "json" };
import { configVariables } from "../../functions/_shared/config.ts";
import { adminSql, api, dbTest, tokenFor } from "./_helpers.ts";

const root = new URL("../../", import.meta.url);
const names = ["vendor-outage.md", "quota-exceeded.md", "leaked-key.md"];
const runbooks = await Promise.all(names.map(async (name) => ({
  name,
  text: await Deno.readTextFile(new URL(`docs/runbooks/${name}`, root)),
})));

/** Every match of `pattern` (global) in `text`, as its first group that matched (or the whole match). */
function all(text: string, pattern: RegExp): string[] {
  return [...text.matchAll(pattern)].map((match) =>
    match.slice(1).find((group) => group) ?? match[0]
  );
}

/** The fenced blocks of a runbook with their language and whether they are marked skipped. */
function blocks(text: string): { lang: string; body: string; skip: string | null }[] {
  return [
    ...text.matchAll(/(?:<!-- runbooks\.test: skip \(([^)]+)\) -->\n\n?)?```(\w*)\n([\s\S]*?)```/g),
  ]
    .map((match) => ({ skip: match[1] ?? null, lang: match[2], body: match[3] }));
}

/** The shell commands of a runbook's sh blocks, continuation lines joined, comments cut. */
function commands(text: string): string[] {
  return blocks(text).filter((block) => block.lang === "sh")
    .flatMap((block) => block.body.replace(/\\\n\s*/g, " ").split("\n"))
    .map((line) => line.replace(/\s+#.*$/, "").trim()).filter((line) => line.length > 0);
}

/** The pinned supabase CLI's subcommands of a command group, from its own help. */
async function cliSubcommands(group: string): Promise<string[]> {
  const output = await new Deno.Command(new URL("node_modules/.bin/supabase", root).pathname, {
    args: [group, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, `supabase ${group} --help`);
  const help = new TextDecoder().decode(output.stdout);
  const section = help.split(/^SUBCOMMANDS$/m)[1] ?? "";
  return all(section, /^ {2}([a-z-]+)\s/gm);
}

Deno.test("runbooks: the three runbooks are there, each with commands and SQL", () => {
  for (const { name, text } of runbooks) {
    assert.ok(commands(text).length > 0, `${name} names commands`);
    assert.ok(blocks(text).some((block) => block.lang === "sql"), `${name} has SQL`);
  }
});

Deno.test("runbooks: every npm script named is one of package.json's", () => {
  const scripts = Object.keys(packageJson.scripts);
  const named = runbooks.flatMap(({ name, text }) =>
    all(text, /\bnpm (?:run(?: -s)? ([a-z][\w:-]*)|(start|test)\b)/g)
      .map((script) => ({ name, script }))
  );
  assert.ok(named.length >= 3, "the runbooks name npm scripts");
  for (const { name, script } of named) {
    assert.ok(scripts.includes(script), `${name}: npm script ${script} does not exist`);
  }
});

Deno.test("runbooks: every supabase command exists in the pinned CLI, every secret is ours", async () => {
  const named = runbooks.flatMap(({ name, text }) =>
    [...text.matchAll(/\bsupabase (secrets|functions) ([a-z-]+)((?: +[A-Z][A-Z0-9_]*(?==|\b))*)/g)]
      .map((match) => ({ name, group: match[1], sub: match[2], rest: match[0] }))
  );
  assert.ok(named.length >= 4, "the runbooks name supabase commands");
  const known = new Map<string, string[]>();
  for (const group of new Set(named.map((entry) => entry.group))) {
    known.set(group, await cliSubcommands(group));
  }
  for (const { name, group, sub } of named) {
    assert.ok(known.get(group)!.includes(sub), `${name}: supabase ${group} ${sub} does not exist`);
  }
  // Secrets set or unset: variables the functions read.
  const secrets = runbooks.flatMap(({ name, text }) =>
    all(text, /\bsupabase secrets (?:set|unset)((?: +[A-Z][A-Z0-9_]*(?:=\S*)?)+)/g)
      .flatMap((list) => list.trim().split(/ +/).map((pair) => pair.split("=")[0]))
      .map((variable) => ({ name, variable }))
  );
  assert.ok(secrets.length >= 3, "the runbooks set secrets by name");
  for (const { name, variable } of secrets) {
    assert.ok(
      configVariables.includes(variable),
      `${name}: ${variable} is not read by the functions`,
    );
  }
  // Functions deployed by name: functions of supabase/config.toml.
  const config = await Deno.readTextFile(new URL("supabase/config.toml", root));
  const functions = all(config, /^\[functions\.([a-z_-]+)\]/gm);
  for (const { name, text } of runbooks) {
    for (const fn of all(text, /\bsupabase functions deploy ((?:[a-z][a-z_-]* ?)+)/g)) {
      for (const one of fn.trim().split(/\s+/)) {
        assert.ok(functions.includes(one), `${name}: no function ${one}`);
      }
    }
  }
});

dbTest(
  "runbooks: every setting named is an app setting or a variable the functions read",
  async () => {
    const keys = (await adminSql()`select key from public.app_settings`).map((row) => row.key);
    const named = runbooks.flatMap(({ name, text }) =>
      [
        ...all(text, /`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g),
        ...all(text, /\bkey = '([^']+)'/g),
      ].map((setting) => ({ name, setting }))
    );
    assert.ok(named.length >= 10, "the runbooks name settings");
    for (const { name, setting } of named) {
      assert.ok(
        keys.includes(setting) || configVariables.includes(setting),
        `${name}: ${setting} is neither an app setting nor a variable of the functions`,
      );
    }
  },
);

dbTest("runbooks: every alert rule named exists", async () => {
  const rules = (await adminSql()`select code from public.alert_rules`).map((row) => row.code);
  const named = runbooks.flatMap(({ name, text }) =>
    [...all(text, /\brule `([a-z_]+)`/g), ...all(text, /\bcode = '([a-z_]+)'/g)]
      .map((rule) => ({ name, rule }))
  );
  assert.ok(named.length >= 5, "the runbooks name alert rules");
  for (const { name, rule } of named) {
    assert.ok(rules.includes(rule), `${name}: no alert rule ${rule}`);
  }
});

dbTest("runbooks: every SQL function, table and view named exists", async () => {
  const routines = (await adminSql()`
    select n.nspname || '.' || p.proname as name
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'private', 'analytics')`).map((row) => row.name);
  const relations = (await adminSql()`
    select n.nspname || '.' || c.relname as name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'private', 'analytics') and c.relkind in ('r', 'v', 'p', 'm')`)
    .map((row) => row.name);
  let functions = 0;
  for (const { name, text } of runbooks) {
    for (
      const match of text.matchAll(/\b((?:public|private|analytics)\.[a-z_][a-z0-9_]*)(\s*\()?/g)
    ) {
      // A name followed by "(" is a call, or a table with its column list (insert into t (...)).
      const [, object, call] = match;
      if (call && routines.includes(object)) functions++;
      assert.ok(
        relations.includes(object) || routines.includes(object),
        `${name}: no table, view or function ${object}`,
      );
    }
  }
  assert.ok(functions >= 5, "the runbooks name SQL functions");
});

dbTest(
  "runbooks: every API call is an operation of the API; each GET answers an admin",
  async () => {
    const document = await (await api("/openapi.json")).json();
    const operations = Object.entries(document.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) =>
        Object.keys(item).map((method) => ({
          method: method.toUpperCase(),
          pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
        }))
      );
    const isOperation = (method: string, path: string) =>
      operations.some((op) => op.method === method && op.pattern.test(path));
    const token = await tokenFor("admin@py360.test");
    let calls = 0;
    let fetched = 0;
    for (const { name, text } of runbooks) {
      // curl "$API/..." in the commands, with -X METHOD (GET otherwise).
      for (const command of commands(text).filter((line) => line.startsWith("curl "))) {
        const url = command.match(/"\$API(\/[^"]*)"/);
        assert.ok(url, `${name}: a curl without "$API/...": ${command}`);
        const method = command.match(/-X (\w+)/)?.[1] ?? "GET";
        const pathAndQuery = url[1];
        const path = `/api${pathAndQuery.split("?")[0]}`.replace(/<[^>]+>/g, "x");
        calls++;
        assert.ok(isOperation(method, path), `${name}: no operation ${method} ${path}`);
        if (method === "GET" && !pathAndQuery.includes("<")) {
          const response = await api(pathAndQuery, { token });
          assert.equal(
            response.status,
            200,
            `${name}: GET ${pathAndQuery} answered ${response.status}`,
          );
          await response.body?.cancel();
          fetched++;
        }
      }
      // Operations named in the prose: `METHOD /api/...`.
      for (const match of text.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/api\/[^`\s?]+)/g)) {
        calls++;
        assert.ok(isOperation(match[1], match[2]), `${name}: no operation ${match[1]} ${match[2]}`);
      }
    }
    assert.ok(calls >= 15, "the runbooks name API operations");
    assert.ok(fetched >= 5, "and some are fetched");
  },
);

dbTest("runbooks: every field of the health check named is in an admin's answer", async () => {
  const health = await (await api("/health", { token: await tokenFor("admin@py360.test") })).json();
  let named = 0;
  for (const { name, text } of runbooks) {
    for (const field of all(text, /`(messaging(?:\.[a-z_]+(?:\[\])?)+)`/g)) {
      named++;
      let value: unknown = health;
      for (const part of field.split(".")) {
        const key = part.replace("[]", "");
        value = (value as Record<string, unknown> | undefined)?.[key];
        assert.notEqual(value, undefined, `${name}: no ${field} in GET /api/health (at ${key})`);
        if (part.endsWith("[]")) {
          assert.ok(
            Array.isArray(value) && value.length > 0,
            `${name}: ${field}: ${key} is no list`,
          );
          value = value[0];
        }
      }
    }
  }
  assert.ok(named >= 4, "the runbooks name fields of the health check");
});

Deno.test("runbooks: every file and migration named exists", async () => {
  let named = 0;
  for (const { name, text } of runbooks) {
    for (
      const file of all(
        text,
        /`((?:docs|migrations|functions|scripts|tests|seed|supabase)\/[^`\s]+)`/g,
      )
    ) {
      named++;
      await Deno.stat(new URL(file, root)).catch(() => assert.fail(`${name}: no file ${file}`));
    }
    for (const migration of all(text, /\b(\d{14}_[a-z0-9_]+)\b/g)) {
      named++;
      await Deno.stat(new URL(`migrations/${migration}.sql`, root))
        .catch(() => assert.fail(`${name}: no migration ${migration}`));
    }
  }
  assert.ok(named >= 5, "the runbooks name files");
});

Deno.test("runbooks: every snake_case name in backticks occurs in the code", async () => {
  const corpus: string[] = [];
  const walk = async (dir: URL, ext: RegExp) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url, ext);
      else if (ext.test(entry.name)) corpus.push(await Deno.readTextFile(url));
    }
  };
  await walk(new URL("migrations/", root), /\.sql$/);
  await walk(new URL("functions/", root), /\.ts$/);
  const words = new Set(corpus.join("\n").match(/[a-z][a-z0-9_]*/g));
  // Names of the vendors' own, not ours.
  const vendorNames = new Set(["whatsapp_business_messaging"]);
  let checked = 0;
  for (const { name, text } of runbooks) {
    for (const token of all(text, /`([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)`/g)) {
      for (const part of token.split(".").filter((part) => part.includes("_"))) {
        if (vendorNames.has(part)) continue;
        checked++;
        assert.ok(
          words.has(part),
          `${name}: \`${part}\` occurs nowhere in migrations/ or functions/`,
        );
      }
    }
  }
  assert.ok(checked >= 20, "the runbooks name columns, fields and reasons");
});

dbTest("runbooks: every sql block runs, as postgres, rolled back", async () => {
  let ran = 0;
  const skipped: string[] = [];
  for (const { name, text } of runbooks) {
    for (const block of blocks(text).filter((block) => block.lang === "sql")) {
      if (block.skip) {
        skipped.push(`${name}: ${block.skip}`);
        continue;
      }
      const rollback = new Error("rollback");
      await adminSql().begin(async (tx) => {
        await tx.unsafe(block.body);
        throw rollback;
      }).catch((error) => {
        if (error !== rollback) {
          assert.fail(`${name}: this block fails (${error.message}):\n${block.body}`);
        }
      });
      ran++;
    }
  }
  assert.ok(ran >= 10, `${ran} blocks ran`);
  assert.deepEqual(skipped, ["leaked-key.md: Vault exists only on Supabase"]);
});
