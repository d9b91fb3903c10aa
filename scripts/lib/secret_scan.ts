// `npm test`'s secret scan (issue 13): no configured secret may appear in anything the suite
// printed. The harness (1) plants distinctive random values for the secret variables it can set
// without changing what the tests see, (2) has every configuration parsed in the test processes
// record its secret values (config.ts, PY360_TEST_SECRET_SCAN_DIR), which covers the values the
// tests set themselves (the sandbox's credentials, per-test keys), and (3) at the end looks for
// every one of them in the captured output of the Deno tests and the database server's log. Log
// lines below LOG_LEVEL are never written: each process searches them itself (config.ts) and
// notes a hit for the harness (recordedLeaks).
// A response body holding a secret is caught by the egress guard (functions/_shared/
// egress_guard.ts), which withholds it and logs an error line: such a line fails the scan too.
import {
  minScannedSecretLength,
  parseConfig,
  secretVariables,
} from "../../functions/_shared/config.ts";

/** The error line the egress guard logs when it withholds a response. */
export const withheldMessage = "response withheld: it contained a configured secret";

/** A secret looked for: the variable it came from and its value. */
export interface ScannedSecret {
  name: string;
  value: string;
}

/** The scan's verdict: how many secrets were looked for and what was found. */
export interface ScanResult {
  /** Distinct secret values looked for. */
  checked: number;
  /** One line per leak, naming the variable and where (never the value). */
  leaks: string[];
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** A distinctive value for `name`: base64 of 32 random bytes for an encryption key (the shape
 * it must have), else `planted-<name>-<32 hex>`. */
export function plantedValue(name: string): string {
  if (name.includes("ENCRYPTION_KEY")) return btoa(String.fromCharCode(...randomBytes(32)));
  const hex = Array.from(randomBytes(16), (b) => b.toString(16).padStart(2, "0")).join("");
  return `planted-${name.toLowerCase().replaceAll("_", "-")}-${hex}`;
}

/**
 * Random values for the secret variables `env` leaves unset, keeping only those that change
 * nothing the tests can see: a variable that a vendor requires changes that vendor's status
 * (enabled, or the variables its reason lists, which tests assert), so it is left to the tests
 * that configure the vendor (their values are recorded, see above). What remains are the
 * `_PREVIOUS` values of rotating secrets.
 */
export function plantSecrets(env: Record<string, string>): Record<string, string> {
  const vendorsOf = (source: Record<string, string>) => {
    try {
      return JSON.stringify(parseConfig(source).vendors);
    } catch {
      return undefined;
    }
  };
  const before = vendorsOf(env);
  const planted: Record<string, string> = {};
  for (const name of secretVariables) {
    if (env[name] !== undefined) continue;
    const value = plantedValue(name);
    if (vendorsOf({ ...env, [name]: value }) === before) planted[name] = value;
  }
  return planted;
}

/** The secrets the test processes recorded in `dir` (`<pid>.tsv`: name, tab, URI-encoded
 * value), each value once. A missing directory is no secrets. */
export async function recordedSecrets(dir: string): Promise<ScannedSecret[]> {
  const found: ScannedSecret[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".tsv")) continue;
      const text = await Deno.readTextFile(`${dir}/${entry.name}`);
      for (const line of text.split("\n")) {
        const [name, encoded] = line.split("\t");
        if (name && encoded) found.push({ name, value: decodeURIComponent(encoded) });
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found;
}

/**
 * The leaks the test processes noted in log lines below LOG_LEVEL, which are never written
 * (`<pid>.leaks`: name, tab, where), one line each: e.g. `OPENAI_API_KEY appeared in a log line
 * below LOG_LEVEL (debug, msg "model call")`. A missing directory is none.
 */
export async function recordedLeaks(dir: string): Promise<string[]> {
  const leaks: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".leaks")) continue;
      const text = await Deno.readTextFile(`${dir}/${entry.name}`);
      for (const line of text.split("\n")) {
        const [name, where] = line.split("\t");
        if (name && where) leaks.push(`${name} appeared in ${where}`);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return leaks;
}

/**
 * Looks for each secret (values shorter than minScannedSecretLength are skipped, as the egress
 * guard does) in each named text, and for the egress guard's withheld line. Answers how many
 * distinct values were looked for and one line per leak, e.g. `TWILIO_AUTH_TOKEN appeared in
 * the Deno output (line 120)`; a leak never quotes the value.
 */
export function scanForSecrets(
  texts: Record<string, string>,
  secrets: ScannedSecret[],
): ScanResult {
  const byValue = new Map<string, string>();
  for (const { name, value } of secrets) {
    if (value.length >= minScannedSecretLength && !byValue.has(value)) byValue.set(value, name);
  }
  const leaks: string[] = [];
  for (const [where, text] of Object.entries(texts)) {
    for (const [value, name] of byValue) {
      const at = text.indexOf(value);
      if (at >= 0) leaks.push(`${name} appeared in ${where} (line ${lineOf(text, at)})`);
    }
    let from = 0;
    for (;;) {
      const at = text.indexOf(withheldMessage, from);
      if (at < 0) break;
      const key = text.slice(at).match(/"config_key":"([^"]*)"/)?.[1] ?? "a secret";
      leaks.push(`a response holding ${key} was withheld in ${where} (line ${lineOf(text, at)})`);
      from = at + withheldMessage.length;
    }
  }
  return { checked: byValue.size, leaks };
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < index; i = text.indexOf("\n", i + 1)) line++;
  return line;
}
