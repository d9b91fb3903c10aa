// Whether a kept database still matches the migration files it was built from.
//
// `supabase db push` applies only versions the database does not have yet. Each applied version is
// recorded in `supabase_migrations.schema_migrations (version text, name text, statements text[])`,
// `statements` being the file split into statements by the CLI's own splitter. A migration edited
// after it was applied is therefore never re-run: the kept database silently keeps the old
// definitions. `npm start` compares each applied version's stored statements with its file, split
// the same way, and refuses to start when one changed.
import { join } from "node:path";
import { type Cluster } from "./cluster.ts";
import { projectRoot, run } from "./run.ts";

/** The command that rebuilds the dev database from the current migration files (and demo data). */
export const resetCommand = "npm run db -- reset";

// ---------------------------------------------------------------------------------------------
// The Supabase CLI's statement splitter, ported byte for byte from its Go source
// (pkg/parser/token.go and pkg/parser/state.go; `SplitAndTrim`, used by `db push`). It is a
// small state machine over the file's UTF-8 bytes that ends a statement at a `;` outside quotes,
// comments, dollar quotes, parentheses and `BEGIN ATOMIC ... END`; each statement keeps its
// leading comments, loses trailing `;` and surrounding white space, and empty ones are dropped.
// Its quirks are kept on purpose, since only an exact copy compares without false alarms:
//  - one `)` can close nested parentheses at once;
//  - a backslash outside quotes escapes the next character;
//  - `''` inside quotes is an escaped quote even after a backslash (E'\'' runs on).
// tests/functions/migrations.test.ts checks the port against what the pinned CLI stores.
// ---------------------------------------------------------------------------------------------

const runeError = 0xfffd;

/** Go's utf8.DecodeRune: the code point at `i` and its width; invalid input is (U+FFFD, 1). */
function decodeRune(bytes: Uint8Array, i: number): [number, number] {
  const b0 = bytes[i];
  if (b0 < 0x80) return [b0, 1];
  const cont = (j: number, lo = 0x80, hi = 0xbf) =>
    j < bytes.length && bytes[j] >= lo && bytes[j] <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    return cont(i + 1) ? [((b0 & 0x1f) << 6) | (bytes[i + 1] & 0x3f), 2] : [runeError, 1];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const [lo, hi] = b0 === 0xe0 ? [0xa0, 0xbf] : b0 === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    if (!cont(i + 1, lo, hi) || !cont(i + 2)) return [runeError, 1];
    return [((b0 & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f), 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const [lo, hi] = b0 === 0xf0 ? [0x90, 0xbf] : b0 === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    if (!cont(i + 1, lo, hi) || !cont(i + 2) || !cont(i + 3)) return [runeError, 1];
    return [
      ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) |
      (bytes[i + 3] & 0x3f),
      4,
    ];
  }
  return [runeError, 1];
}

/** Go's utf8.DecodeLastRune over bytes[start, end). */
function decodeLastRune(bytes: Uint8Array, start: number, end: number): [number, number] {
  if (end <= start) return [runeError, 0];
  let first = end - 1;
  const limit = Math.max(start, end - 4);
  while (first > limit && (bytes[first] & 0xc0) === 0x80) first--;
  const [rune, width] = decodeRune(bytes.subarray(0, end), first);
  return first + width === end ? [rune, width] : [runeError, 1];
}

/** Go's unicode.IsSpace. */
function isSpace(rune: number): boolean {
  if (rune <= 0xff) {
    return rune === 0x20 || (rune >= 0x09 && rune <= 0x0d) || rune === 0x85 || rune === 0xa0;
  }
  return rune === 0x1680 || (rune >= 0x2000 && rune <= 0x200a) || rune === 0x2028 ||
    rune === 0x2029 || rune === 0x202f || rune === 0x205f || rune === 0x3000;
}

const letter = /^\p{L}$/u;
const digit = /^\p{Nd}$/u;
const isLetter = (rune: number) => rune !== runeError && letter.test(String.fromCodePoint(rune));
const isDigit = (rune: number) => digit.test(String.fromCodePoint(rune));
const isIdentifierRune = (rune: number) =>
  isLetter(rune) || isDigit(rune) || rune === 0x5f || rune === 0x24;

/** bytes[end - word.length, end) equals the ASCII `word`, ignoring ASCII case. */
function endsWithFold(bytes: Uint8Array, start: number, end: number, word: string): boolean {
  if (end - word.length < start) return false;
  for (let k = 0; k < word.length; k++) {
    const a = bytes[end - word.length + k];
    const b = word.charCodeAt(k);
    const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
    if (lower(a) !== lower(b)) return false;
  }
  return true;
}

/** bytes[end - delimiter.length, end) equals `delimiter` exactly. */
function endsWith(bytes: Uint8Array, end: number, delimiter: Uint8Array): boolean {
  if (end - delimiter.length < 0) return false;
  for (let k = 0; k < delimiter.length; k++) {
    if (bytes[end - delimiter.length + k] !== delimiter[k]) return false;
  }
  return true;
}

/** The token read so far: bytes[start, end), `end` just past the current rune. */
interface Window {
  bytes: Uint8Array;
  start: number;
  end: number;
}

interface State {
  /** The next state after `rune`; null ends the statement here. */
  next(rune: number, w: Window): State | null;
}

/** Whether the token ends in `BEGIN <space> ATOMIC` as whole words (state.go isBeginAtomic). */
function isBeginAtomic({ bytes, start, end }: Window): boolean {
  let offset = end - "ATOMIC".length;
  if (offset < start || !endsWithFold(bytes, start, end, "ATOMIC")) return false;
  if (offset > start && isIdentifierRune(decodeLastRune(bytes, start, offset)[0])) return false;
  while (offset > start) {
    const [rune, width] = decodeLastRune(bytes, start, offset);
    if (!isSpace(rune)) break;
    offset -= width;
  }
  const begin = offset - "BEGIN".length;
  if (begin < start || !endsWithFold(bytes, start, offset, "BEGIN")) return false;
  if (begin === start) return true;
  return !isIdentifierRune(decodeLastRune(bytes, start, begin)[0]);
}

class Ready implements State {
  next(rune: number, w: Window): State | null {
    switch (rune) {
      case 0x24: // $
        return new Tag(w.end - 1);
      case 0x27: // '
      case 0x22: // "
        return new Quote(rune);
      case 0x2d: // -
        return new Comment();
      case 0x2f: // /
        return new Block();
      case 0x5c: // \
        return new Escape();
      case 0x3b: // ;
        return null;
      case 0x28: // (
        return new Atomic(this, ")");
      case 0x63: // c
      case 0x43: // C
        if (isBeginAtomic(w)) return new Atomic(this, "END");
    }
    return this;
  }
}

class Comment implements State {
  next(rune: number, w: Window): State | null {
    if (rune === 0x2d) return new Dollar(new Uint8Array([0x0a]));
    return new Ready().next(rune, w);
  }
}

class Block implements State {
  depth = 0;
  next(rune: number, w: Window): State | null {
    const open = w.bytes[w.end - 2] === 0x2f && w.bytes[w.end - 1] === 0x2a;
    const close = w.bytes[w.end - 2] === 0x2a && w.bytes[w.end - 1] === 0x2f;
    if (open) {
      this.depth++;
      return this;
    }
    if (this.depth === 0) return new Ready().next(rune, w);
    if (close) {
      this.depth--;
      if (this.depth === 0) return new Ready();
    }
    return this;
  }
}

class Quote implements State {
  escape = false;
  constructor(readonly delimiter: number) {}
  next(rune: number, w: Window): State | null {
    if (this.escape) {
      if (rune === this.delimiter) {
        this.escape = false;
        return this;
      }
      return new Ready().next(rune, w);
    }
    if (rune === this.delimiter) this.escape = true;
    return this;
  }
}

class Dollar implements State {
  constructor(readonly delimiter: Uint8Array) {}
  next(_rune: number, w: Window): State | null {
    return endsWith(w.bytes, w.end, this.delimiter) ? new Ready() : this;
  }
}

class Tag implements State {
  constructor(readonly offset: number) {}
  next(rune: number, w: Window): State | null {
    if (rune === 0x24) return new Dollar(w.bytes.slice(this.offset, w.end));
    if (isLetter(rune) || isDigit(rune) || rune === 0x5f) return this;
    return new Ready().next(rune, w);
  }
}

class Escape implements State {
  next(): State | null {
    return new Ready();
  }
}

class Atomic implements State {
  constructor(private prev: State, readonly delimiter: string) {}
  next(rune: number, w: Window): State | null {
    const current = this.prev.next(rune, w);
    if (current !== null) this.prev = current;
    if (this.prev instanceof Ready && endsWithFold(w.bytes, w.start, w.end, this.delimiter)) {
      return new Ready();
    }
    return this;
  }
}

/** Go's strings.TrimSpace. */
function trimSpace(text: string): string {
  const chars = [...text];
  let first = 0;
  let last = chars.length;
  while (first < last && isSpace(chars[first].codePointAt(0)!)) first++;
  while (last > first && isSpace(chars[last - 1].codePointAt(0)!)) last--;
  return chars.slice(first, last).join("");
}

/**
 * Splits migration SQL into statements exactly as `supabase db push` stores them in
 * `supabase_migrations.schema_migrations.statements` (the CLI's parser.SplitAndTrim): each
 * statement with its leading comments, without its `;` and surrounding white space; empty
 * statements dropped. Accepts the file's text or its raw bytes.
 */
export function splitStatements(sql: string | Uint8Array): string[] {
  const bytes = typeof sql === "string" ? new TextEncoder().encode(sql) : sql;
  const decoder = new TextDecoder();
  const tokens: string[] = [];
  let state: State = new Ready();
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const [rune, width] = decodeRune(bytes, i);
    const end = i + width;
    const next = state.next(rune, { bytes, start, end });
    if (next === null) {
      tokens.push(decoder.decode(bytes.subarray(start, end)));
      start = end;
      i = end;
      state = new Ready();
    } else {
      state = next;
      i = end;
    }
  }
  if (start < bytes.length) tokens.push(decoder.decode(bytes.subarray(start)));
  return tokens.map((token) => trimSpace(token.replace(/;+$/, ""))).filter((s) => s.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Applied migrations against their files.
// ---------------------------------------------------------------------------------------------

/** One row of supabase_migrations.schema_migrations. */
export interface AppliedMigration {
  /** The timestamp prefix of the file name, e.g. "20261128000100". */
  version: string;
  /** The rest of the file name without `.sql`, e.g. "revoke_default_execute". */
  name: string;
  /** The statements as the CLI applied them; null when the CLI recorded none (`migration repair`). */
  statements: string[] | null;
}

/** How an applied migration differs from the migrations folder. */
export interface ChangedMigration {
  version: string;
  /** The file now carrying the version, or the applied name when there is none. */
  file: string;
  /** What differs, in words, e.g. "statement 3 of 12 differs". */
  change: string;
}

/** The migrations recorded in a database, oldest first; empty when none were ever pushed. */
export async function appliedMigrations(url: string): Promise<AppliedMigration[]> {
  const out = await run("psql", [
    url,
    "--no-psqlrc",
    "--tuples-only",
    "--no-align",
    "-v",
    "ON_ERROR_STOP=1",
    "-c",
    `select case when to_regclass('supabase_migrations.schema_migrations') is null then '[]'::json
            else (select coalesce(json_agg(json_build_object(
                     'version', version, 'name', coalesce(name, ''), 'statements', statements)
                     order by version), '[]'::json)
                    from supabase_migrations.schema_migrations) end`,
  ]);
  return JSON.parse(out);
}

/** Version-prefixed migration files in `folder` as the CLI reads them: version -> file name. */
export async function migrationFiles(folder: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const entry of Deno.readDir(folder)) {
    const match = entry.name.match(/^([0-9]+)_(.*)\.sql$/);
    if (entry.isFile && match) files.set(match[1], entry.name);
  }
  return files;
}

/**
 * Applied migrations whose file has since changed (other statements) or is gone. New files are
 * not changes: `db push` applies them. Rows with no recorded statements cannot be compared and
 * are skipped.
 */
export async function changedMigrations(
  url: string,
  folder = join(projectRoot, "migrations"),
): Promise<ChangedMigration[]> {
  const files = await migrationFiles(folder);
  const changed: ChangedMigration[] = [];
  for (const applied of await appliedMigrations(url)) {
    const file = files.get(applied.version);
    if (file === undefined) {
      changed.push({
        version: applied.version,
        file: `${applied.version}_${applied.name}.sql`,
        change: "applied, but no file with this version is in migrations/ any more",
      });
      continue;
    }
    if (applied.statements === null) continue;
    const now = splitStatements(await Deno.readFile(join(folder, file)));
    const was = applied.statements;
    const index = now.findIndex((statement, i) => i < was.length && statement !== was[i]);
    if (index !== -1) {
      changed.push({
        version: applied.version,
        file,
        change: `statement ${index + 1} differs from the one applied`,
      });
    } else if (now.length !== was.length) {
      changed.push({
        version: applied.version,
        file,
        change: `has ${now.length} statements; ${was.length} were applied`,
      });
    }
  }
  return changed;
}

/** Raised when a kept database was built from migrations that have since changed. */
export class ChangedMigrationsError extends Error {
  constructor(readonly changed: ChangedMigration[]) {
    super(
      [
        "The dev database was built from migrations that have changed since they were applied,",
        "so it would keep running their old definitions:",
        ...changed.map((c) => `  migrations/${c.file}: ${c.change}`),
        "",
        "Rebuild it from the current files (this deletes its data and loads the demo book again):",
        `  ${resetCommand}`,
        "",
        "Migrations are forward-only: if you edited one yourself, put the file back as it was and",
        "write the change as a new migration instead (`npm test` fails on an edited migration).",
      ].join("\n"),
    );
    this.name = "ChangedMigrationsError";
    // Printed as it is by `npm start`: the message says all there is, a stack trace would not.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * Refuses (throws ChangedMigrationsError) when an applied migration of `cluster`'s database
 * differs from its file; run before `db push` on a kept database. When refusing, stops the
 * cluster if `stopIfRefused` (it was started only for this run).
 */
export async function refuseChangedMigrations(
  cluster: Cluster,
  stopIfRefused: boolean,
  folder?: string,
): Promise<void> {
  const changed = await changedMigrations(cluster.url(), folder);
  if (changed.length === 0) return;
  if (stopIfRefused) await cluster.stop();
  throw new ChangedMigrationsError(changed);
}
