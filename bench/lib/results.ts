// What a benchmark hands to the suite (`npm run bench`, bench/suite.ts): its figures, each beside
// the reference measured in the same run, the ratio and the goal; and its progress, as steps.
// A bench run alone prints as before; under the suite (PY360_BENCH_RESULTS set) it also writes
// its figures as JSON to that file, and announces each step on a line of its own that the suite
// turns into its progress bar.

/** One figure of a benchmark, as one row of bench/RESULTS.md. */
export interface BenchFigure {
  /** What was measured, e.g. `claim of 100, 100,000 rows half sent, p95`. */
  what: string;
  /** Our figure, formatted with its unit (`17.9 ms`, `3,114 msg/s`). */
  ours: string;
  /** The reference measured in the same run, formatted, with what it is
   * (`bare skip-locked update: 13.9 ms`); absent where a figure has none. */
  reference?: string;
  /** Ours against the reference, as the bench defines it (time over time, or rate over rate),
   * e.g. 1.29; absent without a reference. */
  ratio?: number;
  /** The goal, as the issue that set it says it (`p95 < 5 ms`, `≤ 1.5×`); absent: none set. */
  goal?: string;
  /** Whether the goal was met; null when the goal is not judged on this run (e.g. a smaller
   * book than the goal's). */
  met?: boolean | null;
}

/** Everything one benchmark reports. */
export interface BenchResult {
  /** The suite's name for it (`messages`), as `npm run bench -- --only <name>` takes it. */
  name: string;
  /** Its title in RESULTS.md. */
  title: string;
  /** The parameters it ran with (`policies: 1000000`). */
  parameters: Record<string, string | number>;
  figures: BenchFigure[];
  /** Sentences worth keeping beside the table (what a figure means, what was not measured). */
  notes: string[];
  /** ISO times. */
  startedAt: string;
  finishedAt: string;
}

/** The environment variable naming the JSON file the suite reads. */
export const resultsFileVariable = "PY360_BENCH_RESULTS";

/** The prefix of a progress line: `##progress 3/7 the daily jobs, first run`. */
export const progressPrefix = "##progress";

/**
 * Collects one benchmark's figures. `step()` announces progress (printed as a plain heading
 * when run alone); `figure()` adds a row; `save()` writes the JSON file under the suite and does
 * nothing otherwise.
 */
export class BenchRecorder {
  readonly #result: BenchResult;
  #step = 0;

  /** `steps`: how many `step()` calls a full run makes, for the progress bar. */
  constructor(
    name: string,
    title: string,
    parameters: Record<string, string | number>,
    readonly steps: number,
  ) {
    this.#result = {
      name,
      title,
      parameters,
      figures: [],
      notes: [],
      startedAt: new Date().toISOString(),
      finishedAt: "",
    };
  }

  /** Marks the start of the next step, e.g. `step("claim latency")`. */
  step(label: string): void {
    this.#step = Math.min(this.#step + 1, this.steps);
    if (Deno.env.get(resultsFileVariable)) {
      console.log(`${progressPrefix} ${this.#step}/${this.steps} ${label}`);
    }
  }

  /** Adds one figure (a row of RESULTS.md). */
  figure(figure: BenchFigure): void {
    this.#result.figures.push(figure);
  }

  /** Adds a sentence shown under the bench's table. */
  note(text: string): void {
    this.#result.notes.push(text);
  }

  /** Writes the result for the suite, if the suite asked for it. */
  async save(): Promise<void> {
    const file = Deno.env.get(resultsFileVariable);
    if (!file) return;
    this.#result.finishedAt = new Date().toISOString();
    await Deno.writeTextFile(file, JSON.stringify(this.#result, null, 2));
  }
}

/** Parses a progress line; null for any other line. */
export function parseProgress(line: string): { step: number; steps: number; label: string } | null {
  const match = line.match(/^##progress (\d+)\/(\d+) (.*)$/);
  return match ? { step: Number(match[1]), steps: Number(match[2]), label: match[3] } : null;
}
