// bench/RESULTS.md, written by the suite (`npm run bench`, bench/suite.ts): the machine, a summary
// of the goals met and missed, then one section per bench (its parameters, when it ran, a table of
// figures beside their references, its notes), or a section saying it failed, with its log.
//
// Each section opens with a marker comment holding its summary as JSON, so a later run with
// `--only` keeps the other benches' sections word for word (each with its own date and commit)
// and still counts their goals in the summary. Everything here is pure: the suite gathers the
// facts, these functions turn them into text and back.
import { z } from "zod";
import type { BenchFigure, BenchResult } from "./results.ts";

/** The machine and the run, for the head of the file. */
export interface Machine {
  /** Logical cores (`navigator.hardwareConcurrency`). */
  cores: number;
  /** The CPU's model name, from /proc/cpuinfo. */
  cpu: string;
  /** Total memory in GiB. */
  memoryGiB: number;
  /** `postgres --version` of the binaries the throwaway clusters run. */
  postgres: string;
  /** Deno's version. */
  deno: string;
  /** The 1, 5, 15-minute load averages before the first bench and after the last (`1.20 0.90 0.70`). */
  loadBefore: string;
  loadAfter: string;
  /** ISO time the suite started. */
  date: string;
  /** The commit the suite ran (`5adedb2`, `5adedb2 + uncommitted changes`). */
  commit: string;
  /** The benches this run ran, in order. */
  ran: string[];
}

/** One bench as the suite ran it. */
export interface BenchRun {
  /** The suite's name for it (`messages`). */
  name: string;
  /** Its title when it failed before saying its own (the suite's name for it otherwise). */
  title: string;
  /** ISO times the suite started and saw the end of its process. */
  startedAt: string;
  finishedAt: string;
  /** As Machine.commit. */
  commit: string;
  /** Load averages just before it started and just after it ended. */
  loadBefore: string;
  loadAfter: string;
  /** Where its whole output is. */
  log: string;
  /** What it reported; absent when it failed. */
  result?: BenchResult;
  /** Why it failed (`exited with code 1`); absent when it succeeded. */
  failure?: string;
  /** The last lines of its output, shown under a failure. */
  tail?: string[];
  /** The arguments it was given beyond its defaults (the suite's `--args`), when there were
   * any: a trial run, whose goals are not judged (every figure `met: null`). */
  trialArgs?: string[];
}

/** What the summary needs of a section: counted when written, read back from its marker. */
export interface SectionSummary {
  name: string;
  title: string;
  /** ISO time it started. */
  ran: string;
  commit: string;
  failed: boolean;
  met: number;
  missed: number;
  /** Goals not judged on this run (met: null), e.g. a 1M goal on a smaller book. */
  unjudged: number;
  /** One line per missed goal: what, ours, the goal. */
  missedGoals: string[];
  /** A trial run's arguments beyond the bench's defaults (`--messages 500`); absent otherwise. */
  trial?: string;
}

/** A section marker's JSON as parseSections accepts it: a SectionSummary, every field checked. */
const sectionSummarySchema = z.object({
  name: z.string().min(1),
  title: z.string(),
  ran: z.iso.datetime(),
  commit: z.string(),
  failed: z.boolean(),
  met: z.number().int().min(0),
  missed: z.number().int().min(0),
  unjudged: z.number().int().min(0),
  missedGoals: z.array(z.string()),
  trial: z.string().optional(),
});

/** A section of an earlier file, kept as it was. */
export interface KeptSection {
  summary: SectionSummary;
  /** Its markdown, marker included, ending with a newline. */
  text: string;
}

const markerPattern = /^<!-- bench-section (.*) -->$/;

/** A trial run's arguments as one string (`--messages 500 --instances 1`); undefined otherwise. */
function trialOf(run: BenchRun): string | undefined {
  return run.trialArgs && run.trialArgs.length > 0 ? run.trialArgs.join(" ") : undefined;
}

/**
 * A run's figures as judged: as the bench reported them, except on a trial run (arguments
 * beyond its defaults), where no goal is judged (`met: null`); none for a failed run.
 */
export function judgedFigures(run: BenchRun): BenchFigure[] {
  const figures = run.result?.figures ?? [];
  return trialOf(run) ? figures.map((f) => ({ ...f, met: null })) : figures;
}

/** Counts a run's goals (none for a failed run; none met or missed on a trial run). */
export function summarize(run: BenchRun): SectionSummary {
  const figures = judgedFigures(run);
  const trial = trialOf(run);
  return {
    name: run.name,
    title: run.result?.title ?? run.title,
    ran: run.startedAt,
    commit: run.commit,
    failed: !run.result,
    met: figures.filter((f) => f.goal && f.met === true).length,
    missed: figures.filter((f) => f.goal && f.met === false).length,
    unjudged: figures.filter((f) => f.goal && f.met === null).length,
    missedGoals: figures.filter((f) => f.goal && f.met === false).map((f) =>
      `${f.what}: ${f.ours} (goal ${f.goal})`
    ),
    ...(trial ? { trial } : {}),
  };
}

/** A table cell: no line breaks, `|` escaped. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|").trim();
}

/** A ratio as RESULTS.md shows it: `1.29×`, `0.012×`, `136×`. */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  const digits = ratio >= 100 ? 0 : ratio >= 0.1 ? 2 : 3;
  return `${ratio.toFixed(digits)}×`;
}

/** A figure's judgement: met, **missed**, not judged, or nothing without a goal. */
function judgement(figure: BenchFigure): string {
  if (!figure.goal) return "";
  if (figure.met === true) return "met";
  if (figure.met === false) return "**missed**";
  return "not judged";
}

/** `2026-11-30 08:12 UTC` from an ISO time. */
export function formatTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** `42 s`, `3 min 5 s`, `1 h 2 min` from milliseconds. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A parameter's value: numbers with thousands separated. */
function parameterValue(value: string | number): string {
  return typeof value === "number" ? value.toLocaleString("en-US") : value;
}

/** The marker line that opens a section: its summary as JSON, safe inside an HTML comment. */
function marker(summary: SectionSummary): string {
  const json = JSON.stringify(summary).replace(/</g, "\\u003c").replace(/>/g, "\\u003e");
  return `<!-- bench-section ${json} -->`;
}

/** One bench's section of RESULTS.md: marker, title, when and how, the table, the notes. */
export function renderSection(run: BenchRun): string {
  const summary = summarize(run);
  const lines = [marker(summary), "", `## ${summary.title} (\`${run.name}\`)`, ""];
  const took = formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
  lines.push(
    `Ran ${formatTime(run.startedAt)} for ${took}, commit ${run.commit}, load average ` +
      `${run.loadBefore} before, ${run.loadAfter} after. Its output: \`${run.log}\`.`,
    "",
  );
  if (summary.trial) {
    lines.push(
      `Trial run (arguments: \`${summary.trial.replace(/`/g, "'")}\`): its goals are not judged.`,
      "",
    );
  }
  if (!run.result) {
    lines.push(`**Failed**: ${run.failure ?? "no results"}. No figures from this run.`, "");
    const tail = run.tail ?? [];
    if (tail.length > 0) {
      // Colours out (a terminal's escapes), and no line that would close the block early.
      const plain = tail.map((l) =>
        // deno-lint-ignore no-control-regex
        l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/```/g, "'''")
      );
      lines.push("Its last lines:", "", "```text", ...plain);
      lines.push("```", "");
    }
    return lines.join("\n");
  }
  const parameters = Object.entries(run.result.parameters);
  if (parameters.length > 0) {
    lines.push(
      `Parameters: ${
        parameters.map(([key, value]) => `${key} ${parameterValue(value)}`).join(", ")
      }.`,
      "",
    );
  }
  if (run.result.figures.length > 0) {
    lines.push(
      "| what | ours | reference (same run) | ratio | goal | met |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const f of judgedFigures(run)) {
      const cells = [
        f.what,
        f.ours,
        f.reference ?? "",
        f.ratio === undefined ? "" : formatRatio(f.ratio),
        f.goal ?? "",
        judgement(f),
      ];
      lines.push(`| ${cells.map(cell).join(" | ")} |`);
    }
    lines.push("");
  } else {
    lines.push("It reported no figures.", "");
  }
  for (const note of run.result.notes) lines.push(`- ${note.replace(/\s*\n\s*/g, " ")}`);
  if (run.result.notes.length > 0) lines.push("");
  return lines.join("\n");
}

/** zod's `Invalid input: expected array, received string` as `a string, not an array`. */
function plainIssue(message: string): string {
  const match = message.match(/^Invalid input: expected (\w+), received (\w+)$/);
  if (!match) return message;
  const a = (word: string) => `${/^[aeiou]/.test(word) ? "an" : "a"} ${word}`;
  return match[2] === "undefined" ? "missing" : `${a(match[2])}, not ${a(match[1])}`;
}

/**
 * The sections of an earlier RESULTS.md, by bench name: each from its marker line to the next
 * marker line or the end of the file. A section whose marker is malformed (not JSON, or not a
 * whole SectionSummary: a field missing or of the wrong type) is dropped, text and all, and
 * `warn` is told which (by its bench name when the marker has one, and its line); text before
 * the first marker is no section.
 */
export function parseSections(
  markdown: string,
  warn: (warning: string) => void = () => {},
): Map<string, KeptSection> {
  const sections = new Map<string, KeptSection>();
  let current: { summary?: SectionSummary; lines: string[] } | undefined;
  const close = () => {
    if (!current?.summary) return;
    const text = current.lines.join("\n").replace(/\s*$/, "\n");
    sections.set(current.summary.name, { summary: current.summary, text });
  };
  for (const [index, line] of markdown.split("\n").entries()) {
    const match = line.match(markerPattern);
    if (!match) {
      current?.lines.push(line);
      continue;
    }
    close();
    let json: unknown;
    try {
      json = JSON.parse(match[1]);
    } catch {
      warn(`line ${index + 1}: a section marker that is not JSON; that section is dropped`);
      current = { lines: [] };
      continue;
    }
    const parsed = sectionSummarySchema.safeParse(json);
    if (parsed.success) {
      current = { summary: parsed.data, lines: [line] };
    } else {
      const name = (json as { name?: unknown } | null)?.name;
      const which = typeof name === "string" ? `the ${JSON.stringify(name)} section` : "a section";
      const wrong = parsed.error.issues.map((issue) =>
        `${issue.path.join(".") || "(marker)"}: ${plainIssue(issue.message)}`
      ).join("; ");
      warn(`line ${index + 1}: ${which} has a malformed marker (${wrong}); it is dropped`);
      current = { lines: [] };
    }
  }
  close();
  return sections;
}

/** The summary table and the list of missed goals, over every section in `order`. */
function renderSummary(order: string[], summaries: Map<string, SectionSummary>): string[] {
  const all = order.map((name) => summaries.get(name)).filter((s) => s !== undefined);
  const total = (pick: (s: SectionSummary) => number) => all.reduce((n, s) => n + pick(s), 0);
  const failed = all.filter((s) => s.failed).length;
  const lines = [
    "## Summary",
    "",
    `Goals met: ${total((s) => s.met)}; missed: ${total((s) => s.missed)}; not judged on these ` +
    `runs: ${total((s) => s.unjudged)}. Benches failed: ${failed}` +
    `${order.some((name) => !summaries.has(name)) ? "; some never ran (below)" : ""}.`,
    "",
    "| bench | ran | commit | met | missed | not judged |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const name of order) {
    const s = summaries.get(name);
    if (!s) {
      lines.push(`| ${name} | not run yet | | | | |`);
    } else if (s.failed) {
      lines.push(`| ${name} | ${formatTime(s.ran)}: **failed** | ${cell(s.commit)} | | | |`);
    } else {
      const trial = s.trial ? ` (trial run: ${cell(s.trial)})` : "";
      lines.push(
        `| ${name} | ${formatTime(s.ran)}${trial} | ${cell(s.commit)} | ${s.met} | ${s.missed} | ` +
          `${s.unjudged} |`,
      );
    }
  }
  lines.push("");
  const missed = all.flatMap((s) => s.missedGoals.map((goal) => `- ${s.name}: ${goal}`));
  if (missed.length > 0) lines.push("Missed:", "", ...missed, "");
  return lines;
}

/** Everything bench/RESULTS.md is made of. */
export interface ResultsInput {
  machine: Machine;
  /** This run's benches. */
  runs: BenchRun[];
  /** Sections of the earlier file (parseSections), kept for the benches this run did not run. */
  kept: Map<string, KeptSection>;
  /** Every bench of the suite, in its order: the order of the sections. */
  order: string[];
}

/** The whole of bench/RESULTS.md. */
export function renderResults({ machine, runs, kept, order }: ResultsInput): string {
  const fresh = new Map(runs.map((run) => [run.name, run]));
  const summaries = new Map<string, SectionSummary>();
  const texts = new Map<string, string>();
  for (const name of order) {
    const run = fresh.get(name);
    if (run) {
      summaries.set(name, summarize(run));
      texts.set(name, renderSection(run));
    } else if (kept.has(name)) {
      summaries.set(name, kept.get(name)!.summary);
      texts.set(name, kept.get(name)!.text);
    }
  }
  const lines = [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (bench/suite.ts); each figure stands beside a reference measured " +
    "in the same run, with their ratio and the goal the issues set. `npm run bench -- --only " +
    "<name>` reruns one bench and keeps the other sections as they were, each with its own date " +
    "and commit. On a shared machine compare ratios, not absolute figures.",
    "",
    "## Machine",
    "",
    `- ${machine.cores} cores, ${machine.cpu}, ${machine.memoryGiB.toFixed(0)} GiB of memory`,
    `- ${machine.postgres} (a throwaway cluster per bench, fsync off; shared buffers 128 MB, ` +
    `1 GB for the book benches: renewals, risk, analytics), Deno ${machine.deno}`,
    `- Load average (1, 5, 15 min) ${machine.loadBefore} before, ${machine.loadAfter} after`,
    `- The last run: ${formatTime(machine.date)}, commit ${machine.commit}, ran ` +
    `${machine.ran.join(", ")}`,
    "",
    ...renderSummary(order, summaries),
  ];
  const body = order.filter((name) => texts.has(name)).map((name) => texts.get(name)!);
  return `${[lines.join("\n"), ...body].join("\n").replace(/\n+$/, "")}\n`;
}
