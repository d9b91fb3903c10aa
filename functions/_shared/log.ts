// JSON log lines, one per event. Values under secret-looking keys and anything shaped like a
// bearer token or JWT are redacted before a line is written.

type Level = "debug" | "info" | "warn" | "error";
const levels: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const secretKey = /authorization|cookie|password|secret|token|api[-_]?key|signature|jwt/i;
const secretValue = /\b(Bearer\s+\S+|eyJ[\w-]+\.[\w-]+\.[\w-]*)/g;

/** A copy of `value` with secrets replaced by "[redacted]". */
export function redact(value: unknown, key = ""): unknown {
  if (key && secretKey.test(key)) return "[redacted]";
  if (typeof value === "string") return value.replace(secretValue, "[redacted]");
  if (Array.isArray(value)) return value.map((item) => redact(item));
  if (value instanceof Error) return { name: value.name, message: redact(value.message) };
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  }
  return value;
}

const threshold = levels[(Deno.env.get("LOG_LEVEL") as Level) ?? "info"] ?? levels.info;

/** npm test's secret scan only (registered by config.ts): sees the lines below LOG_LEVEL too. */
let quietLineCheck: ((line: string) => void) | undefined;

/**
 * For `npm test`'s secret scan (config.ts registers it when the scan is on): `check` is given
 * each line below LOG_LEVEL, built as it would be written, instead of nothing; it is not written.
 */
export function checkQuietLines(check: (line: string) => void): void {
  quietLineCheck = check;
}

/** Writes one JSON log line (secret-looking fields redacted) at or above LOG_LEVEL. */
export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const quiet = levels[level] < threshold;
  if (quiet && !quietLineCheck) return;
  const line = JSON.stringify({
    time: new Date().toISOString(),
    level,
    msg,
    ...redact(fields) as object,
  });
  if (quiet) return quietLineCheck?.(line);
  if (level === "error") console.error(line);
  else console.log(line);
}
