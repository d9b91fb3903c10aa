// The benchmark suite's command line (`npm run bench -- ...`, bench/suite.ts): what it takes, and,
// for bad input, a message naming the option that was wrong with how that option is used. Pure:
// the suite hands it Deno.args and the names of its benches.
import { parseArgs } from "node:util";

/** What the suite was asked to do. */
export interface SuiteOptions {
  /** The benches to run, by name, as given to --only (every bench without it). */
  chosen: string[];
  /** `--policies N`: the book benches' number of policies (1,000,000 unless given). */
  policies: number;
  /** `--results FILE`: where RESULTS.md goes (`defaultResults` unless given). */
  results: string;
  /** `--logs DIR`: where each bench's output goes; undefined: the suite's own default. */
  logs?: string;
  /** `--args "<bench> <its options>"`, gathered per bench: the arguments beyond its defaults. */
  extra: Map<string, string[]>;
}

/** Bad input on the suite's command line; `option` names what was wrong (`--policies`). */
export class UsageError extends Error {
  constructor(readonly option: string, message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** How each option is used, for the line under a complaint about it. */
function optionUsage(option: string, names: string[]): string | undefined {
  const usages: Record<string, string> = {
    "--only": `--only <name>[,<name>]: the benches to run, among ${names.join(", ")}`,
    "--policies": "--policies N: a whole number of at least 1 (1000000 unless given), the " +
      "policies the book benches build",
    "--results": "--results FILE: where RESULTS.md goes, in a folder that exists",
    "--logs": "--logs DIR: where each bench's output goes",
    "--args": `--args "<bench> <its options>": more arguments for one bench (a trial run), e.g. ` +
      `--args "messages --messages 500"`,
  };
  return usages[option];
}

/** The line saying everything the suite takes. */
function generalUsage(names: string[]): string {
  return `The suite takes --only <name>[,<name>] (among ${names.join(", ")}), --policies N, ` +
    `--results FILE, --logs DIR and --args "<bench> <its options>"; one bench alone: ` +
    "npm run bench:<name> -- <its options>.";
}

/**
 * What to print for bad input: the option and what is wrong with it, how that option is used
 * (when it is one of the suite's), then everything the suite takes.
 */
export function usageText(error: UsageError, names: string[]): string {
  const how = optionUsage(error.option, names);
  return [
    `bench suite: ${error.option}: ${error.message}`,
    ...(how ? [`Usage: ${how}.`] : []),
    generalUsage(names),
  ].join("\n");
}

/** node:util's parseArgs error as a UsageError naming the option (or argument) at fault. */
function fromParseArgs(error: Error & { code?: string }): UsageError {
  const quoted = error.message.match(/'([^' ]+)/)?.[1] ?? "(command line)";
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(
        quoted,
        `not an option of the suite (a bench's own option goes in --args "<bench> ${quoted}")`,
      );
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(quoted, "needs a value");
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(quoted, "an argument without an option (the suite takes only options)");
    default:
      return new UsageError("(command line)", error.message);
  }
}

/**
 * Parses the suite's command line against its benches' `names`.
 * @throws UsageError naming the option that is wrong: one the suite does not take, one without
 *   its value, --policies not a whole number ≥ 1, --only or --args naming no bench of the suite,
 *   an empty --results.
 */
export function parseSuiteOptions(
  args: string[],
  names: string[],
  defaultResults: string,
): SuiteOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        only: { type: "string" },
        policies: { type: "string", default: "1000000" },
        results: { type: "string", default: defaultResults },
        logs: { type: "string" },
        args: { type: "string", multiple: true, default: [] },
      },
    }));
  } catch (error) {
    throw fromParseArgs(error as Error & { code?: string });
  }
  const policies = Number(values.policies);
  if (!/^\s*\d+\s*$/.test(values.policies) || !Number.isSafeInteger(policies) || policies < 1) {
    throw new UsageError(
      "--policies",
      `${JSON.stringify(values.policies)} is not a whole number of at least 1`,
    );
  }
  const chosen = values.only !== undefined
    ? values.only.split(",").map((name) => name.trim()).filter(Boolean)
    : names;
  const unknown = chosen.filter((name) => !names.includes(name));
  if (unknown.length > 0) throw new UsageError("--only", `no bench named ${unknown.join(", ")}`);
  if (chosen.length === 0) throw new UsageError("--only", "names no bench");
  if (values.results.trim() === "") throw new UsageError("--results", "an empty file name");
  if (values.logs !== undefined && values.logs.trim() === "") {
    throw new UsageError("--logs", "an empty folder name");
  }
  const extra = new Map<string, string[]>();
  for (const spec of values.args) {
    const [name, ...rest] = spec.trim().split(/\s+/);
    if (!name) throw new UsageError("--args", "names no bench");
    if (!names.includes(name)) {
      throw new UsageError("--args", `${JSON.stringify(spec)}: no bench named ${name}`);
    }
    extra.set(name, [...(extra.get(name) ?? []), ...rest]);
  }
  return { chosen, policies, results: values.results, logs: values.logs, extra };
}
