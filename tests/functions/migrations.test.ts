// The start-up check of a kept database against its migration files (scripts/lib/migrations.ts):
// the statement splitter against what the pinned Supabase CLI really stores, and the refusal when
// an applied migration has changed. The pushes go into a throwaway cluster of the test's own.
import assert from "node:assert/strict";
import { throwawayCluster } from "../../scripts/lib/cluster.ts";
import {
  appliedMigrations,
  changedMigrations,
  ChangedMigrationsError,
  refuseChangedMigrations,
  resetCommand,
  splitStatements,
} from "../../scripts/lib/migrations.ts";
import { projectRoot, run } from "../../scripts/lib/run.ts";
import { applyPlatform, projectFiles } from "../../scripts/lib/schema.ts";

Deno.test("migrations: statements split as the CLI splits them", () => {
  assert.deepEqual(
    splitStatements(
      "-- opening comment; with a semicolon\n\ncreate table t (a text default 'x;''y');\n" +
        "/* block; /* nested; */ still; */ select 1 ;;\n" +
        "do $body$ begin perform 1; end $body$;\n" +
        "create function f() returns int language sql begin atomic select 1; select 2; end;\n" +
        'select "semi;colon" from t;\n' +
        "select $é$;$é$ as unicode_tag;\n" +
        "select 2 -- no semicolon at the end\n",
    ),
    [
      "-- opening comment; with a semicolon\n\ncreate table t (a text default 'x;''y')",
      "/* block; /* nested; */ still; */ select 1",
      "do $body$ begin perform 1; end $body$",
      "create function f() returns int language sql begin atomic select 1; select 2; end",
      'select "semi;colon" from t',
      "select $é$;$é$ as unicode_tag",
      "select 2 -- no semicolon at the end",
    ],
  );
  // Quirks of the CLI's splitter, kept so that the comparison matches it exactly.
  assert.deepEqual(splitStatements("(a;(b);c);"), ["(a;(b)", "c)"], "one ) closes both");
  assert.deepEqual(splitStatements("select \\; 1;"), ["select \\; 1"], "backslash escapes");
  assert.deepEqual(splitStatements(" \n;;\n "), [], "empty statements are dropped");
});

// Statement shapes the splitter must get right, applied for real by the CLI.
const awkward = `-- Awkward statement shapes; the CLI's stored statements must equal ours.
create schema probe;
create table probe.notes (
  body text default 'semi;colon ''quoted''',
  "odd;name" int default (((1)))
);
/* a block; /* nested; */ comment */ comment on table probe.notes is $$dollar; quoted$$;
create function probe.two() returns int language sql
begin atomic
  select 1;
  select 2;
end;
create function probe.text() returns text language plpgsql as $body$
begin
  return 'x;y'; -- a comment; inside a body
end;
$body$;;
insert into probe.notes (body) values (E'back\\\\slash;'), ('₹ 8,656; é'), ($é$;$é$);
do $do$ begin perform probe.two(); end $do$
`;

Deno.test({
  name: "migrations: the CLI stores our split; a changed applied migration is refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cluster = await throwawayCluster();
    const work = await Deno.makeTempDir({ prefix: "py360-migrations-" });
    try {
      await cluster.init();
      await cluster.start();
      const url = cluster.url();
      await applyPlatform(url);

      // A project of its own: a copy of our migrations and one of awkward shapes, pushed by the
      // pinned CLI exactly as scripts/lib/schema.ts pushes ours.
      const folder = `${work}/supabase/migrations`;
      await Deno.mkdir(folder, { recursive: true });
      await Deno.writeTextFile(`${work}/supabase/config.toml`, 'project_id = "check"\n');
      const ours = await projectFiles("migrations", ".sql");
      for (const file of ours) {
        await Deno.copyFile(`${projectRoot}/${file}`, `${folder}/${file.split("/").pop()}`);
      }
      const probe = "99990101000000_probe_statement_shapes.sql";
      await Deno.writeTextFile(`${folder}/${probe}`, awkward);
      await run(`${projectRoot}/node_modules/.bin/supabase`, [
        "db",
        "push",
        "--workdir",
        work,
        "--db-url",
        `${url}?sslmode=disable`,
        "--yes",
      ]);

      const applied = await appliedMigrations(url);
      assert.equal(applied.length, ours.length + 1, "every file applied and recorded");
      for (const migration of applied) {
        const file = `${folder}/${migration.version}_${migration.name}.sql`;
        assert.deepEqual(
          migration.statements,
          splitStatements(await Deno.readFile(file)),
          `${migration.version}_${migration.name}`,
        );
      }
      const shapes = applied.at(-1)!;
      assert.equal(shapes.statements?.length, 7, "the awkward file is seven statements");

      // No false alarm: unchanged files, or white space and empty statements around them.
      assert.deepEqual(await changedMigrations(url, folder), []);
      await Deno.writeTextFile(`${folder}/${probe}`, `\n\n${awkward}\n;\n ;\n`);
      await Deno.writeTextFile(`${folder}/99990102000000_not_applied_yet.sql`, "select 1;\n");
      assert.deepEqual(await changedMigrations(url, folder), []);

      // A statement changed, a comment added after the last statement, a file removed.
      await Deno.writeTextFile(
        `${folder}/${probe}`,
        awkward.replace("'x;y'", "'x;y;z'"),
      );
      const [first, third] = [ours[0], ours[2]].map((file) => file.split("/").pop()!);
      await Deno.writeTextFile(
        `${folder}/${third}`,
        `${await Deno.readTextFile(`${folder}/${third}`)}\n-- an afterthought\n`,
      );
      await Deno.remove(`${folder}/${first}`);
      const changed = await changedMigrations(url, folder);
      assert.deepEqual(changed.map((c) => c.file), [first, third, probe]);
      assert.match(changed[0].change, /no file with this version/);
      assert.match(changed[1].change, /has \d+ statements; \d+ were applied/);
      assert.equal(changed[2].change, "statement 5 differs from the one applied");

      // What `npm start` does with that: refuse, name the command, stop what it started.
      assert.equal(await cluster.isRunning(), true);
      const refusal = await refuseChangedMigrations(cluster, true, folder).then(
        () => assert.fail("a changed migration was accepted"),
        (error) => error,
      );
      assert.ok(refusal instanceof ChangedMigrationsError);
      assert.ok(refusal.message.includes(resetCommand), refusal.message);
      assert.equal(resetCommand, "npm run db -- reset");
      for (const file of [first, third, probe]) {
        assert.ok(refusal.message.includes(`migrations/${file}`), file);
      }
      assert.equal(await cluster.isRunning(), false, "the cluster it started is stopped");
    } finally {
      await cluster.remove();
      await Deno.remove(work, { recursive: true });
    }
  },
});
