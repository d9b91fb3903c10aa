// The forward-only gate (scripts/lib/forward_only.ts), on throwaway git repositories with a history
// shaped like ours: migrations edited before a baseline, migrations added after it.
import assert from "node:assert/strict";
import {
  forwardOnlyBaseline,
  forwardOnlyReport,
  keptMisordered,
  modifiedMigrations,
} from "../../scripts/lib/forward_only.ts";
import { projectRoot, run } from "../../scripts/lib/run.ts";

async function git(root: string, ...args: string[]): Promise<string> {
  return (await run("git", ["-C", root, ...args])).trim();
}

/** A repository with m1 and m2 added, m1 edited (the baseline), then m3 added. */
async function repository() {
  const root = await Deno.makeTempDir({ prefix: "py360-forward-only-" });
  await git(root, "init", "--quiet", "--initial-branch=main");
  await git(root, "config", "user.email", "test@py360.test");
  await git(root, "config", "user.name", "test");
  await Deno.mkdir(`${root}/migrations`);
  const write = (name: string, text: string) =>
    Deno.writeTextFile(`${root}/migrations/${name}`, text);
  const commit = async (message: string) => {
    await git(root, "add", "-A");
    await git(root, "commit", "--quiet", "-m", message);
    return await git(root, "rev-parse", "HEAD");
  };
  await write("1_create_a.sql", "create table a ();\n");
  await write("2_create_b.sql", "create table b ();\n");
  await commit("a and b");
  await write("1_create_a.sql", "create table a (id int);\n");
  const baseline = await commit("a edited in place, before the rule");
  await write("3_create_c.sql", "create table c ();\n");
  const added = await commit("c");
  return { root, baseline, added, write, commit };
}

Deno.test("forward-only: a clean tree after grandfathered edits passes", async () => {
  const { root, baseline } = await repository();
  try {
    assert.deepEqual(await modifiedMigrations({ root, baseline }), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: uncommitted edits and removals of committed migrations fail", async () => {
  const { root, baseline, added, write } = await repository();
  try {
    // A migration from before the baseline is held to its content there, not to its first commit.
    await write("1_create_a.sql", "create table a ();\n");
    await write("3_create_c.sql", "create table c (id int);\n");
    await Deno.remove(`${root}/migrations/2_create_b.sql`);
    await write("4_create_d.sql", "create table d ();\n"); // new, never committed: fine
    assert.deepEqual(await modifiedMigrations({ root, baseline }), [
      { path: "migrations/1_create_a.sql", kind: "modified", reference: baseline },
      { path: "migrations/2_create_b.sql", kind: "removed", reference: baseline },
      { path: "migrations/3_create_c.sql", kind: "modified", reference: added },
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: a committed edit fails though the tree is clean", async () => {
  const { root, baseline, added, write, commit } = await repository();
  try {
    await write("3_create_c.sql", "create table c (id int);\n");
    await commit("c edited in place");
    assert.equal(await git(root, "status", "--porcelain"), "");
    const modified = await modifiedMigrations({ root, baseline });
    assert.deepEqual(modified, [
      { path: "migrations/3_create_c.sql", kind: "modified", reference: added },
    ]);
    const report = forwardOnlyReport(modified, baseline);
    assert.match(report, /never edited or removed/);
    assert.match(report, /new migration/);
    assert.ok(
      report.includes(
        `git show ${added.slice(0, 7)}:migrations/3_create_c.sql > migrations/3_create_c.sql`,
      ),
      report,
    );
    // Following the report's advice puts things right.
    await Deno.writeTextFile(
      `${root}/migrations/3_create_c.sql`,
      await git(root, "show", `${added}:migrations/3_create_c.sql`) + "\n",
    );
    assert.deepEqual(await modifiedMigrations({ root, baseline }), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: a new migration that sorts before a committed one fails", async () => {
  const { root, baseline, write, commit } = await repository();
  try {
    await write("5_create_e.sql", "create table e ();\n");
    const e = await commit("e");
    // Before the newest committed migration (5), though after every other one: a kept database
    // that ran 5 refuses it, a fresh one runs it before 5.
    await write("4_sneak.sql", "create table sneak ();\n");
    await write("6_create_f.sql", "create table f ();\n"); // after the newest: fine
    const found = await modifiedMigrations({ root, baseline });
    assert.deepEqual(found, [
      {
        path: "migrations/4_sneak.sql",
        kind: "misordered",
        reference: e,
        precedes: "migrations/5_create_e.sql",
      },
    ]);
    const report = forwardOnlyReport(found, baseline);
    assert.match(report, /migrations\/4_sneak\.sql: sorts before migrations\/5_create_e\.sql/);
    assert.match(report, /version greater than 5/);
    assert.match(report, /inserted before the last migration/);
    // Renamed after the newest, as the report says, it passes.
    await Deno.rename(`${root}/migrations/4_sneak.sql`, `${root}/migrations/7_sneak.sql`);
    assert.deepEqual(await modifiedMigrations({ root, baseline }), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: a committed migration added behind a committed one fails", async () => {
  const { root, baseline, write, commit } = await repository();
  try {
    await write("5_create_e.sql", "create table e ();\n");
    const e = await commit("e");
    await write("4_sneak.sql", "create table sneak ();\n");
    const sneak = await commit("sneak, behind e");
    assert.equal(await git(root, "status", "--porcelain"), "");
    const expected = {
      path: "migrations/4_sneak.sql",
      kind: "misordered",
      reference: e,
      precedes: "migrations/5_create_e.sql",
    };
    assert.deepEqual(await modifiedMigrations({ root, baseline }), [expected]);
    // Also when it is edited: both faults are named.
    await write("4_sneak.sql", "create table sneak (id int);\n");
    assert.deepEqual(await modifiedMigrations({ root, baseline }), [
      expected,
      { path: "migrations/4_sneak.sql", kind: "modified", reference: sneak },
    ]);
    // Kept on purpose (as ours from before the rule are), it passes; its edit still fails.
    assert.deepEqual(
      await modifiedMigrations({ root, baseline, keptMisordered: ["migrations/4_sneak.sql"] }),
      [{ path: "migrations/4_sneak.sql", kind: "modified", reference: sneak }],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: migrations added together, in any order, pass", async () => {
  const { root, baseline, write, commit } = await repository();
  try {
    await write("6_create_f.sql", "create table f ();\n");
    await write("5_create_e.sql", "create table e ();\n");
    await commit("e and f together: no database had either");
    assert.deepEqual(await modifiedMigrations({ root, baseline }), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: a branch's older migration merged behind main's fails", async () => {
  const { root, baseline, write, commit } = await repository();
  try {
    await git(root, "branch", "feature");
    await write("5_create_e.sql", "create table e ();\n");
    const e = await commit("e on main");
    await git(root, "switch", "--quiet", "feature");
    await write("4_create_d.sql", "create table d ();\n");
    await commit("d on the branch, after c: in order there");
    await git(root, "switch", "--quiet", "main");
    await git(root, "merge", "--quiet", "--no-edit", "feature");
    // A database kept on main ran e, then meets d.
    assert.deepEqual(await modifiedMigrations({ root, baseline }), [
      {
        path: "migrations/4_create_d.sql",
        kind: "misordered",
        reference: e,
        precedes: "migrations/5_create_e.sql",
      },
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: a history without the baseline is refused, not passed", async () => {
  const { root } = await repository();
  try {
    await assert.rejects(
      modifiedMigrations({ root, baseline: "0".repeat(40) }),
      /is not in this clone/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("forward-only: exactly nine of our migrations were edited before the baseline", async () => {
  const files =
    (await git(projectRoot, "ls-tree", "--name-only", forwardOnlyBaseline, "migrations/"))
      .split("\n");
  const edited = [];
  for (const file of files) {
    const commits = await git(projectRoot, "rev-list", "--count", forwardOnlyBaseline, "--", file);
    if (Number(commits) > 1) edited.push(file);
  }
  assert.ok(files.length >= 20, `the baseline has our first migrations (${files.length})`);
  assert.equal(edited.length, 9, edited.join("\n"));
});

Deno.test("forward-only: each migration kept out of order really was added behind another", async () => {
  const entries = Object.entries(keptMisordered);
  assert.ok(entries.length > 0, "ours has four kept, 20261129006000 the first");
  for (const [path, reason] of entries) {
    assert.match(path, /^migrations\/\d+_\w+\.sql$/);
    assert.ok(reason.length > 20, `${path} says why it is kept`);
    // The commit that added it, and what the migrations folder held just before.
    const added = await git(projectRoot, "log", "--diff-filter=A", "--format=%H", "--", path);
    assert.match(added, /^[0-9a-f]{40}$/, `${path} was added once`);
    const before = (await git(projectRoot, "ls-tree", "--name-only", `${added}^`, "migrations/"))
      .split("\n");
    const version = (file: string) => file.replace(/^migrations\//, "").split("_")[0];
    const later = before.filter((file) => version(file) > version(path));
    assert.ok(later.length > 0, `${path} sorts before a migration committed ahead of it`);
  }
});
