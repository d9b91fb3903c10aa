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
// as a committed one does; files not yet committed are new migrations and pass.
import { join } from "node:path";
import { projectRoot, tryRun } from "./run.ts";

/** The commit from which on no committed migration may change (the nine earlier edits stay). */
export const forwardOnlyBaseline = "845abb30d2fe91e8890d4d2cf5e53df024fb8fa4";

/** A committed migration that the working tree no longer has as committed. */
export interface ModifiedMigration {
  /** Path from the repository root, e.g. "migrations/20261128000100_revoke_default_execute.sql". */
  path: string;
  /** "modified" (other bytes) or "removed" (no such file in the working tree). */
  kind: "modified" | "removed";
  /** The commit whose content the file must have: the baseline, or the commit that added it. */
  reference: string;
}

export interface ForwardOnlyOptions {
  /** The repository; the project root by default. */
  root?: string;
  /** The migrations folder, relative to the root. */
  folder?: string;
  /** See forwardOnlyBaseline. */
  baseline?: string;
}

async function git(root: string, args: string[]): Promise<string> {
  const result = await tryRun("git", ["-C", root, "-c", "core.quotePath=false", ...args]);
  if (result.code !== 0) {
    throw new Error(`git ${args.join(" ")} failed (${result.code}):\n${result.stderr}`);
  }
  return result.stdout;
}

/**
 * Committed migrations whose working-tree file differs from what the forward-only rule allows
 * (see the top of this file). Throws when the history cannot be judged: not a git checkout, a
 * shallow clone without the baseline, or a HEAD that does not descend from it.
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
  const log = await git(root, [
    "log",
    "--reverse",
    "--no-renames",
    "--diff-filter=A",
    "--format=@%H",
    "--name-only",
    `${baseline}..HEAD`,
    "--",
    `${folder}/`,
  ]);
  let commit = "";
  for (const line of log.split("\n")) {
    if (line.startsWith("@")) commit = line.slice(1);
    else if (line !== "" && !reference.has(line)) {
      const blob = (await git(root, ["rev-parse", `${commit}:${line}`])).trim();
      reference.set(line, [commit, blob]);
    }
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
  return modified.sort((a, b) => a.path.localeCompare(b.path));
}

/** The gate's failure message: what changed, the rule, and how to put each file back. */
export function forwardOnlyReport(
  modified: ModifiedMigration[],
  baseline = forwardOnlyBaseline,
): string {
  const short = (commit: string) => commit.slice(0, 7);
  return [
    "Migrations are forward-only: a committed migration is never edited or removed, because a",
    "database that already applied it would never run the change (`supabase db push` applies only",
    "versions it lacks). Write the change as a new migration instead",
    "(migrations/YYYYMMDDHHMMSS_verb_object.sql, after the newest one).",
    "",
    `Each committed migration must keep the content of the commit that added it; those committed`,
    `at or before ${short(baseline)} keep their content at ${short(baseline)} (nine were edited in`,
    "place before this rule was enforced; that history stays as it is).",
    "",
    "Changed:",
    ...modified.map((m) =>
      `  ${m.path}: ${m.kind}; must equal ${short(m.reference)}. ` +
      `Put it back: git show ${short(m.reference)}:${m.path} > ${m.path}`
    ),
  ].join("\n");
}
