// What the suite (bench/suite.ts) shows while the benches run: on a terminal one line redrawn in
// place (bench i/n, a bar over the whole suite, the bench's current step, elapsed times); in a
// log or CI one line per step. The steps come from the benches' `##progress i/n label` lines
// (bench/lib/results.ts). Pure: the suite feeds it output and the clock.
import { parseProgress } from "./results.ts";

/** A bench's step, as its last progress line said it. */
export interface Step {
  step: number;
  steps: number;
  label: string;
}

/** Where the suite is. */
export interface SuiteState {
  /** 1-based position of the running bench among `total`. */
  index: number;
  total: number;
  /** The running bench's name. */
  name: string;
  /** Its last announced step; undefined before its first. */
  step?: Step;
  /** Milliseconds since the bench started, and since the suite did. */
  benchMs: number;
  suiteMs: number;
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const seconds = String(total % 60).padStart(2, "0");
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}:${seconds}`;
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}:${seconds}`;
}

/**
 * The share of the suite done, 0 to 1: the benches finished, plus the running one's finished
 * steps (a step counts once the next one starts).
 */
export function suiteFraction(state: SuiteState): number {
  const within = state.step && state.step.steps > 0 ? (state.step.step - 1) / state.step.steps : 0;
  return Math.min(1, Math.max(0, (state.index - 1 + within) / state.total));
}

/** A bar of `width` cells, `fraction` of them full. */
export function bar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `${"█".repeat(full)}${"░".repeat(width - full)}`;
}

/** The step as text: `2/5 warm-up run`, or `starting` before the first. */
function stepText(step: Step | undefined): string {
  return step ? `${step.step}/${step.steps} ${step.label}` : "starting";
}

/**
 * The terminal's line: `bench 3/8 campaigns ████░░░░ step 2/5 warm-up run · 1:12 (suite 5:03)`,
 * cut to `columns` characters.
 */
export function progressLine(state: SuiteState, columns: number): string {
  const line = `bench ${state.index}/${state.total} ${state.name} ` +
    `${bar(suiteFraction(state), 20)} step ${stepText(state.step)} · ` +
    `${formatClock(state.benchMs)} (suite ${formatClock(state.suiteMs)})`;
  const width = Math.max(10, columns - 1);
  return [...line].length > width ? `${[...line].slice(0, width - 1).join("")}…` : line;
}

/** The line printed for a step where there is no terminal: `[3/8 campaigns] 2/5 warm-up run (1:12)`. */
export function stepLine(state: SuiteState): string {
  return `[${state.index}/${state.total} ${state.name}] ${stepText(state.step)} ` +
    `(${formatClock(state.benchMs)})`;
}

/** The step a line announces, if it is a progress line (a trailing `\r` is ignored). */
export function stepOf(line: string): Step | null {
  return parseProgress(line.replace(/\r$/, ""));
}

/** Cuts a stream of text into lines as chunks arrive; the last, unfinished line waits. */
export class LineSplitter {
  #rest = "";

  /** The lines `chunk` completes. */
  push(chunk: string): string[] {
    const parts = (this.#rest + chunk).split("\n");
    this.#rest = parts.pop() ?? "";
    return parts;
  }

  /** The unfinished line at the end of the stream, if any. */
  flush(): string[] {
    const rest = this.#rest;
    this.#rest = "";
    return rest ? [rest] : [];
  }
}
