// The forward-only rule for migrations, checked against git history by a gate in `npm test`.
//
// A migration that has been committed is never changed or removed again: databases that already
// ran it would never see the change (`db push` applies only versions they lack). A change is a new
// migration. What a committed migration must contain:
//  - one committed at or before `forwardOnlyBaseline`: its content at that commit. Nine
//    migrations had been edited in place before the rule was enforced; that history is kept as it
//    is, and from the baseline on they are held to it like every other;
//  - one committed after it: its content in the commit that added it.
// The working tree is what is judged, so an uncommitted edit of a committed migration fails just
// as a committed one does.
//
// Nor may a migration be added behind one already committed: it must sort after every migration
// that was committed before it was added (a file not yet committed: after the newest committed
// one). `supabase db push` refuses a kept database a migration older than the newest it has run
// ("Found local migration files to be inserted before the last migration on remote database"),
// while a fresh database runs it earlier, so the two would end up built in different orders.
// "Committed before" follows the history, branches included: a migration is behind another when
// the commit that added the other did not contain it. Migrations added together may come in any
// order. The four added behind others before this was enforced are kept (`keptMisordered`).
import { join } from "node:path";
import { projectRoot, tryRun } from "./run.ts";

/** The commit from which on no committed migration may change (the nine earlier edits stay). */
export const forwardOnlyBaseline = "845abb30d2fe91e8890d4d2cf5e53df024fb8fa4";

const lateLeadMigrations =
  "added in 47eee9a after 20261129006000, 20261129009000 and 20261129009100, before the rule; " +
  "it creates or replaces private functions (their grants and comments) and one trigger on " +
  "public.consents, and none of those three touches them (a login role, pg_cron's schema, " +
  "comments on public tables), so either order builds the same database";

/**
 * Migrations committed behind an earlier-committed one before the ordering rule was enforced,
 * with the reason each may stay: moving one now would make it a removal and a new migration that
 * databases which ran it would run twice. Nothing is added here but by a deliberate decision.
 */
export const keptMisordered: Readonly<Record<string, string>> = {
  "migrations/20261129006000_create_api_authenticator.sql":
    "added in 9571ce2 after 20261129009000 and 20261129009100 (5c957d1, 4a35808), before the " +
    "rule; it only creates a login role, which neither of those touches, so either order " +
    "builds the same database",
  "migrations/20261129001800_serialize_settlement.sql": lateLeadMigrations,
  "migrations/20261129001900_reassign_orphaned_cases.sql": lateLeadMigrations,
  "migrations/20261129002000_tighten_desk_rules.sql": lateLeadMigrations,
};

/** A migration the working tree has in a way the forward-only rule forbids. */
export interface ModifiedMigration {
  /** Path from the repository root, e.g. "migrations/20261128000100_revoke_default_execute.sql". */
  path: string;
  /**
   * "modified" (other bytes than committed), "removed" (no such file in the working tree), or
   * "misordered" (it sorts before `precedes`, which was committed before it was added).
   */
  kind: "modified" | "removed" | "misordered";
  /**
   * "modified" / "removed": the commit whose content the file must have (the baseline, or the
   * commit that added it). "misordered": the commit that added `precedes`.
   */
  reference: string;
  /**
   * "misordered" only: the newest migration (by version) that was committed before this one was
   * added and sorts after it.
   */
  precedes?: string;
}

export interface ForwardOnlyOptions {
  /** The repository; the project root by default. */
  root?: string;
  /** The migrations folder, relative to the root. */
  folder?: string;
  /** See forwardOnlyBaseline. */
  baseline?: string;
  /** Paths exempt from the ordering rule; the keys of `keptMisordered` by default. */
  keptMisordered?: string[];
}

/**
 * The version of a migration file name as the Supabase CLI reads it (`<digits>_<name>.sql`), or
 * undefined for a file the CLI does not take as a migration.
 */
export function migrationVersion(path: string): string | undefined {
  return path.match(/(?:^|\/)([0-9]+)_[^/]*\.sql$/)?.[1];
}

/**
 * Whether version `a` sorts before version `b` as the Supabase CLI compares them: as text, which
 * for our fixed-width timestamps (YYYYMMDDHHMMSS) is their time order.
 */
function sortsBefore(a: string, b: string): boolean {
  return a < b;
}

async function git(root: string, args: string[]): Promise<string> {
  const result = await tryRun("git", ["-C", root, "-c", "core.quotePath=false", ...args]);
  if (result.code !== 0) {
    throw new Error(`git ${args.join(" ")} failed (${result.code}):\n${result.stderr}`);
  }
  return result.stdout;
}

/**
 * Each file of `folder` added in `range` with the commit that added it, oldest first (a file
 * added twice appears twice): `git log --reverse --diff-filter=A`, renames counted as additions.
 */
async function additions(root: string, folder: string, range: string): Promise<[string, string][]> {
  const log = await git(root, [
    "log",
    "--reverse",
    "--no-renames",
    "--diff-filter=A",
    "--format=@%H",
    "--name-only",
    range,
    "--",
    `${folder}/`,
  ]);
  const added: [string, string][] = [];
  let commit = "";
  for (const line of log.split("\n")) {
    if (line.startsWith("@")) commit = line.slice(1);
    else if (line !== "") added.push([line, commit]);
  }
  return added;
}

/**
 * The migrations the forward-only rule refuses (see the top of this file): committed ones whose
 * working-tree file differs from what the rule allows or is gone, and any present one, committed
 * or not, that sorts before a migration committed before it was added. Sorted by path, then kind.
 * Throws when the history cannot be judged: not a git checkout, a shallow clone without the
 * baseline, or a HEAD that does not descend from it.
 */
export async function modifiedMigrations(
  options: ForwardOnlyOptions = {},
): Promise<ModifiedMigration[]> {
  const root = options.root ?? projectRoot;
  const folder = (options.folder ?? "migrations").replace(/\/$/, "");
  const baseline = options.baseline ?? forwardOnlyBaseline;

  const found = await tryRun("git", ["-C", root, "cat-file", "-e", `${baseline}^{commit}`]);
  if (found.code !== 0) {
    throw new Error(
      `Commit ${baseline} is not in this clone, so the migrations' history cannot be checked. ` +
        "In a shallow clone, run `git fetch --unshallow` first.",
    );
  }
  const ancestor = await tryRun("git", [
    "-C",
    root,
    "merge-base",
    "--is-ancestor",
    baseline,
    "HEAD",
  ]);
  if (ancestor.code !== 0) {
    throw new Error(`HEAD does not descend from ${baseline}; the forward-only rule starts there.`);
  }

  // path -> [commit whose content counts, blob id there]
  const reference = new Map<string, [string, string]>();
  for (
    const line of (await git(root, ["ls-tree", "-r", baseline, "--", `${folder}/`])).split("\n")
  ) {
    const match = line.match(/^\d+ blob ([0-9a-f]+)\t(.+)$/);
    if (match) reference.set(match[2], [baseline, match[1]]);
  }
  // Files added after the baseline, oldest first: the first commit that added a path counts.
  for (const [path, commit] of await additions(root, folder, `${baseline}..HEAD`)) {
    if (reference.has(path)) continue;
    const blob = (await git(root, ["rev-parse", `${commit}:${path}`])).trim();
    reference.set(path, [commit, blob]);
  }

  const modified: ModifiedMigration[] = [];
  const present: string[] = [];
  for (const [path, [commit]] of reference) {
    try {
      await Deno.lstat(join(root, path));
      present.push(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      modified.push({ path, kind: "removed", reference: commit });
    }
  }
  if (present.length > 0) {
    const hashes = (await git(root, ["hash-object", "--", ...present])).trim().split("\n");
    present.forEach((path, i) => {
      const [commit, blob] = reference.get(path)!;
      if (hashes[i] !== blob) modified.push({ path, kind: "modified", reference: commit });
    });
  }
  modified.push(
    ...await misorderedMigrations(root, folder, reference, present, options.keptMisordered),
  );
  return modified.sort((a, b) => a.path.localeCompare(b.path) || a.kind.localeCompare(b.kind));
}

/**
 * The ordering half of the rule. `committed` holds every committed migration the rule keeps
 * (path -> its reference); `committedPresent` those of them still in the working tree.
 */
async function misorderedMigrations(
  root: string,
  folder: string,
  committed: Map<string, [string, string]>,
  committedPresent: string[],
  kept: string[] = Object.keys(keptMisordered),
): Promise<ModifiedMigration[]> {
  // The commit that added each committed migration as it now stands: the last that added it.
  const added = new Map(await additions(root, folder, "HEAD"));
  // What the migrations folder held in a commit, read once per commit.
  const trees = new Map<string, Set<string>>();
  const tree = async (commit: string) => {
    let files = trees.get(commit);
    if (!files) {
      const listing = await git(root, ["ls-tree", "-r", "--name-only", commit, "--", `${folder}/`]);
      files = new Set(listing.split("\n").filter((line) => line !== ""));
      trees.set(commit, files);
    }
    return files;
  };

  // Committed migrations, newest version first (a later one wins a tie of versions).
  const versions = [...committed.keys()]
    .map((path) => ({ path, version: migrationVersion(path), commit: added.get(path) }))
    .filter((m): m is { path: string; version: string; commit: string } =>
      m.version !== undefined && m.commit !== undefined
    )
    .sort((a, b) =>
      sortsBefore(a.version, b.version) ? 1 : sortsBefore(b.version, a.version) ? -1 : 0
    );

  // Every migration in the working tree: the committed ones still there, and new files.
  const present = new Set(committedPresent);
  for await (const entry of Deno.readDir(join(root, folder))) {
    if (entry.isFile) present.add(`${folder}/${entry.name}`);
  }

  const misordered: ModifiedMigration[] = [];
  for (const path of present) {
    const version = migrationVersion(path);
    if (version === undefined || kept.includes(path)) continue;
    for (const later of versions) {
      if (!sortsBefore(version, later.version)) break;
      // A new file is behind every committed migration after it; a committed one only behind
      // those whose commit did not contain it yet.
      if (!committed.has(path) || !(await tree(later.commit)).has(path)) {
        misordered.push({
          path,
          kind: "misordered",
          reference: later.commit,
          precedes: later.path,
        });
        break;
      }
    }
  }
  return misordered;
}

/**
 * The gate's failure message: what is wrong, the rule, and what to do about each file. Edits and
 * removals say how to put the file back; migrations out of order, what version to give them.
 */
export function forwardOnlyReport(
  modified: ModifiedMigration[],
  baseline = forwardOnlyBaseline,
): string {
  const short = (commit: string) => commit.slice(0, 7);
  const changed = modified.filter((m) => m.kind !== "misordered");
  const misordered = modified.filter((m) => m.kind === "misordered");
  const lines: string[] = [];
  if (changed.length > 0) {
    lines.push(
      "Migrations are forward-only: a committed migration is never edited or removed, because a",
      "database that already applied it would never run the change (`supabase db push` applies only",
      "versions it lacks). Write the change as a new migration instead",
      "(migrations/YYYYMMDDHHMMSS_verb_object.sql, after the newest one).",
      "",
      `Each committed migration must keep the content of the commit that added it; those committed`,
      `at or before ${short(baseline)} keep their content at ${
        short(baseline)
      } (nine were edited in`,
      "place before this rule was enforced; that history stays as it is).",
      "",
      "Changed:",
      ...changed.map((m) =>
        `  ${m.path}: ${m.kind}; must equal ${short(m.reference)}. ` +
        `Put it back: git show ${short(m.reference)}:${m.path} > ${m.path}`
      ),
    );
  }
  if (misordered.length > 0) {
    if (lines.length > 0) lines.push("");
    lines.push(
      "Migrations only ever go after the ones already committed: a migration must sort after every",
      "migration committed before it was added. `supabase db push` refuses a kept database a",
      "migration older than the newest it has run:",
      "  Found local migration files to be inserted before the last migration on remote database.",
      "and a fresh database runs it earlier than the kept one would have: the two end up built in",
      "different orders.",
      "Not committed yet: rename it with a version greater than the newest committed migration's.",
      "Already committed: it cannot move without being removed. Only if its place in the order",
      "truly does not matter, list it in keptMisordered (scripts/lib/forward_only.ts) with the",
      "reason, and apply it to kept databases once with `supabase db push --include-all`.",
      "",
      "Out of order:",
      ...misordered.map((m) => {
        const precedes = m.precedes ?? "a committed migration";
        const version = migrationVersion(precedes) ?? "its";
        return `  ${m.path}: sorts before ${precedes}, committed in ${short(m.reference)} ` +
          `before it was added; needs a version greater than ${version}.`;
      }),
    );
  }
  return lines.join("\n");
}
