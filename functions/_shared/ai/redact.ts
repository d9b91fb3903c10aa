// Personal data out of what is sent to the model (issue 10, "Guard rails"): phone numbers, emails,
// PAN and Aadhaar numbers and the names we know become tokens (`<phone>`, `<email>`, `<pan>`,
// `<aadhaar>`, `<customer>`, `<agent>`), so no prompt carries them. The prompts are built from facts
// that hold no personal data in the first place (ids, dates, amounts, product line, stage, risk
// reasons); this is the second line, for free text (an agent's chat message, a note).
//
// How a text is read. Patterns are deliberately wide (a false positive costs a word of context, a
// miss leaks a number), and they run over a folded copy of the text, not the text itself:
//   - NFKD per character: full-width digits and `＠`, ligatures, odd spaces and dashes become
//     their plain forms;
//   - format characters (\p{Cf}: zero-width space and joiners, soft hyphen, bidi marks) and
//     private-use characters are dropped, so `98123\u200B45678` is a run of ten digits;
//   - every decimal digit of any script (Devanagari, Bengali, Tamil, ...) becomes its ASCII digit,
//     and combining marks on a digit (a keycap, an underline) are dropped.
// What the folded copy matches is cut out of the original text (each folded character remembers
// where it came from), so text around personal data comes back exactly as it was given: a Hindi
// sentence keeps its own digits and joiners. Lone UTF-16 surrogates become U+FFFD first (the
// database refuses them in JSON).
//
// Numbers: digit groups joined by usual separators (spaces, a dash or slash with or without
// spaces, dot, comma, parentheses) are read as one run, and the run's groups are tested for, in
// digits in all: a mobile (10, the first 6-9), 0 + a mobile or a landline with its STD code (11),
// 91 + a mobile written apart (12), an international number after `+` or `00` (8 to 15 digits;
// +91 takes exactly 10 more), and Aadhaar (12, the first 2-9, written in one run or 4-4-4). So
// `98 12 34 56 78`, `(981) 234-5678`, `+91 (987) 654 3210`, `98123/45678` and `2345.6789.0123` are
// caught,
// while dates (`2026-12-01`, `29.11.2026`), amounts grouped by commas (`8,656`, `1,50,000`),
// paise, percentages and counts are left alone (no date or grouped amount can be a mobile: those
// start 6-9, and a comma-grouped amount is a barrier inside a run). PAN: five letters, four
// digits, a letter, in one run (any case) or written apart by a space, dash, dot or slash (capitals
// only, so `Total 1500 a` is not one). Emails are found from their `@`. UUIDs are kept whole (a run
// of digits inside one is not a number), and so are the tokens themselves.
//
// Names: the customer's and the agent's full names and their parts of two characters or more
// (titles aside), in any case, as whole words where letters, digits and `_` are word characters
// (`case_1` holds no "Case"); consecutive parts make one token. In facts (redactValue), a string
// that is an identifier (a snake_case code: `motor`, `payment_pending`, `case_1`, a feature name)
// is a code, not prose: it is never taken for a name, only searched for numbers.
//
// Cost: the patterns of a set of known people are compiled once and kept (a small cache); a text
// is folded once and read in a few linear passes (emails from each `@`, UUIDs from their dashes,
// digit runs, names), each pattern starting at a character the engine finds quickly and never
// backtracking over more than a run, so a 2,000-character message costs a fraction of a
// millisecond, and ten times the text ten times that.

/** The people a text may name, whose names are replaced by `<customer>` and `<agent>`. */
export interface KnownPeople {
  /** The customer's full name, or several spellings (e.g. Latin and Devanagari). */
  customer?: string | readonly string[] | null;
  /** The agent's (and any other desk user's) full name, or several. */
  agent?: string | readonly string[] | null;
}

/** The tokens redact() writes, one per kind of personal data. */
export const redactionTokens = {
  phone: "<phone>",
  email: "<email>",
  pan: "<pan>",
  aadhaar: "<aadhaar>",
  customer: "<customer>",
  agent: "<agent>",
} as const;

type TokenKind = keyof typeof redactionTokens;

// ---------------------------------------------------------------------------------------------
// Folding: the copy the patterns read, and where each of its characters came from.

/** `text` without lone surrogates (each becomes U+FFFD): safe for JSON in the database. */
export function wellFormed(text: string): string {
  return text.isWellFormed() ? text : text.toWellFormed();
}

/**
 * A JSON-like value with every string (and object key) well-formed (see wellFormed()); other
 * values as they are. What the assistant stores and returns.
 */
export function wellFormedValue<T>(value: T): T {
  if (typeof value === "string") return wellFormed(value) as T;
  if (Array.isArray(value)) return value.map((item) => wellFormedValue(item)) as T;
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [
        wellFormed(key),
        wellFormedValue(item),
      ]),
    ) as T;
  }
  return value;
}

const dropped = /^[\p{Cf}\p{Co}\p{Cs}]$/u;
const decimalDigit = /\p{Nd}/u;
const decimalDigits = /\p{Nd}/gu;
const foldedChars = new Map<number, string>();

/** The value (0-9) of a decimal digit of any script: Unicode assigns them in runs of ten. */
function digitValue(digit: string): string {
  const code = digit.codePointAt(0)!;
  let start = code;
  while (start > 0 && decimalDigit.test(String.fromCodePoint(start - 1))) start--;
  return String((code - start) % 10);
}

/** What one code point (not ASCII) reads as: "" for format and private-use characters. */
function foldChar(code: number): string {
  let folded = foldedChars.get(code);
  if (folded === undefined) {
    const char = String.fromCodePoint(code);
    folded = dropped.test(char)
      ? ""
      : char.normalize("NFKD").replace(decimalDigits, (digit) => digitValue(digit));
    if (foldedChars.size < 4096) foldedChars.set(code, folded);
  }
  return folded;
}

/**
 * A folded text and where its characters came from: `changes` lists, in order, each original
 * character that folded to something else (`from`..`to` in the folded text, `start`..`end` in the
 * original; a dropped character has from = to). Between them the texts match one to one.
 */
interface Folded {
  text: string;
  changes: { from: number; to: number; start: number; end: number }[];
}

const notAscii = /[\u0080-\uFFFF]/;
const nonAscii = /[\u0080-\uFFFF]+/g;
const mayFold = /[\p{Cf}\p{Co}\p{Cs}\p{Nd}]/u;
const mark = /^\p{M}/u;
const asciiDigit = /[0-9]$/;

function fold(text: string): Folded {
  const changes: Folded["changes"] = [];
  if (!notAscii.test(text)) return { text, changes };
  const pieces: string[] = [];
  let copied = 0; // original text copied to pieces so far
  let length = 0; // folded length so far
  for (const match of text.matchAll(nonAscii)) {
    const run = match[0];
    // A combining mark on a digit (a keycap, an underline) is dropped: 9\u0332 is a 9.
    let afterDigit = asciiDigit.test(text[match.index - 1] ?? "");
    // Most runs (Devanagari words, the rupee sign) fold to themselves: checked at once.
    if (
      !mayFold.test(run) && !(afterDigit && mark.test(run)) && run.normalize("NFKD") === run
    ) continue;
    for (let i = match.index; i < match.index + run.length;) {
      const code = text.codePointAt(i)!;
      const width = code > 0xFFFF ? 2 : 1;
      let folded = foldChar(code);
      if (afterDigit && mark.test(folded)) folded = "";
      if (folded) afterDigit = asciiDigit.test(folded);
      if (folded.length !== width || folded !== text.slice(i, i + width)) {
        pieces.push(text.slice(copied, i), folded);
        length += i - copied;
        changes.push({ from: length, to: length + folded.length, start: i, end: i + width });
        length += folded.length;
        copied = i + width;
      }
      i += width;
    }
  }
  if (changes.length === 0) return { text, changes };
  pieces.push(text.slice(copied));
  return { text: pieces.join(""), changes };
}

/** The original position of folded position `at`: where its character starts, or ends. */
function originalAt(folded: Folded, at: number, side: "start" | "end"): number {
  const { changes } = folded;
  // The last change that starts at or before `at`.
  let low = 0;
  let high = changes.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (changes[middle].from <= at) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  let original: number;
  if (found === -1) original = side === "start" ? at : at + 1;
  else {
    const change = changes[found];
    if (at < change.to) original = side === "start" ? change.start : change.end;
    else original = at - change.to + change.end + (side === "start" ? 0 : 1);
  }
  if (side === "end") {
    // Characters dropped right after the end (a keycap's marks, a zero-width space) go with it.
    for (let k = found + 1; k < changes.length; k++) {
      const next = changes[k];
      if (next.from !== at + 1 || next.to !== at + 1 || next.start !== original) break;
      original = next.end;
    }
  }
  return original;
}

/** A name as the patterns read it: folded like a text, spaces collapsed. */
function foldName(name: string): string {
  return fold(wellFormed(name)).text.replace(/\s+/g, " ").trim();
}

// ---------------------------------------------------------------------------------------------
// Patterns (over the folded text: ASCII digits, plain punctuation). Each starts with a character
// the engine can look for quickly, and none looks behind before it, so every pass is linear.

const W = "\\p{L}\\p{M}\\p{N}";
/** Tokens already in a text: kept as they are. */
const tokenPattern = /<(?:phone|email|pan|aadhaar|customer|agent)>/g;
/** UUIDs, found from their first dash (the 8 hex digits before it are checked after). */
const uuidTail = /-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9a-fA-F])/g;
const hex8 = /^[0-9a-fA-F]{8}$/;
// A run of digit groups: an optional `+` and an opening parenthesis that closes after the first
// group (`(+91) `, `(981) `), then groups joined by separators: spaces, a dash, slash or
// parentheses with or without spaces, or a dot or comma right between two digits.
const numberPattern = new RegExp(
  "(?:\\+[ \\t]*)?(?:\\((?=\\+?[0-9]{1,4}\\))\\+?)?[0-9]+" +
    "(?:(?:(?:[ \\t]*[()/\\p{Pd}\\u2212][ \\t]*){1,2}|[ \\t]+|[.,])[0-9]+)*",
  "gu",
);
/** PAN around a run of four digits: five letters before, one after (apart: capitals only). */
const panBefore = /(?<![\p{L}\p{M}\p{N}])(?:([A-Za-z]{5})|([A-Z]{5})[ \-./])$/u;
const panAfter = /^(?:([A-Za-z])|[ \-./]([A-Z]))(?![\p{L}\p{M}\p{N}])/u;

const emailLocalChar = /^[\p{L}\p{M}\p{N}._%+\-]$/u;
const emailDomain = /[\p{L}\p{M}\p{N}\-]+(?:\.[\p{L}\p{M}\p{N}\-]+)*\.[\p{L}\p{M}]{2,}/uy;
/** The longest local part looked at (RFC 5321 allows 64). */
const maxLocalPart = 256;

/** Titles: not a name of their own. ("Kumari" is also a middle name: see notFirstNames.) */
const titles = new Set([
  "mr",
  "mrs",
  "ms",
  "miss",
  "dr",
  "shri",
  "sri",
  "smt",
  "prof",
  "श्री",
  "श्रीमती",
  "सुश्री",
  "डॉ",
]);
const notFirstNames = new Set([...titles, "kumari", "km", "कुमारी"]);

function names(value: string | readonly string[] | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  return (typeof value === "string" ? [value] : [...value])
    .map((name) => wellFormed(name).normalize("NFC").replace(/\s+/g, " ").trim())
    .filter((name) => name.length > 0);
}

/** A name's parts worth replacing on their own: two characters or more, not a title. */
function nameParts(name: string, skip: Set<string> = titles): string[] {
  return name.split(/[\s.,]+/)
    .map((part) => part.trim())
    .filter((part) => [...part].length >= 2 && !skip.has(part.toLowerCase()));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** A run of a person's names (full names and parts, any case, whole words), or null. */
function nameRunPattern(list: string[]): string | null {
  const variants = new Set<string>();
  for (const name of list) {
    const folded = foldName(name);
    variants.add(folded);
    for (const part of nameParts(folded)) variants.add(part);
  }
  const sorted = [...variants].filter((v) => [...v].length >= 2)
    .sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return null;
  const one = `(?i:${sorted.map((v) => escapeRegExp(v).replace(/ /g, "\\s+")).join("|")})`;
  return `(?<![${W}_])${one}(?:\\s+${one})*(?![${W}_])`;
}

// ---------------------------------------------------------------------------------------------
// Spans: what is replaced, in folded-text positions.

interface Span {
  start: number;
  end: number;
  kind: TokenKind;
}

/** What a sequence of digit groups is, or null. `plus`: written after a `+`. */
function numberKind(digits: string, lengths: number[], plus: boolean): TokenKind | null {
  const n = digits.length;
  const international = (rest: string) =>
    rest.startsWith("91")
      ? rest.length === 12 && rest[2] !== "0"
      : rest.length >= 8 && rest.length <= 15 && rest[0] !== "0";
  if (plus) return international(digits) ? "phone" : null;
  if (digits.startsWith("00")) return international(digits.slice(2)) ? "phone" : null;
  if (n === 10 && digits[0] >= "6") return "phone";
  if (n === 11 && digits[0] === "0" && digits[1] !== "0") return "phone";
  if (n === 12) {
    if (lengths[0] === 2 && digits.startsWith("91") && digits[2] >= "6") return "phone";
    if (
      digits[0] >= "2" &&
      (lengths.length === 1 || (lengths.length === 3 && lengths.every((l) => l === 4)))
    ) return "aadhaar";
  }
  return null;
}

/** The fewest and most digits a phone or Aadhaar number takes (8: +1 and 7; 17: 00 and 15). */
const minNumberDigits = 8;
const maxNumberDigits = 17;

/** A PAN whose four digits are the run at [start, end), or null. */
function panAround(text: string, start: number, end: number): Span | null {
  const before = panBefore.exec(text.slice(Math.max(0, start - 8), start));
  if (!before) return null;
  const after = panAfter.exec(text.slice(end, end + 4));
  if (!after) return null;
  const apart = before[2] !== undefined || after[2] !== undefined;
  const letters = (before[1] ?? before[2]) + (after[1] ?? after[2]);
  if (apart && letters !== letters.toUpperCase()) return null;
  return { start: start - before[0].length, end: end + after[0].length, kind: "pan" };
}

/** The phones and Aadhaar numbers of a digit run (at `at` in the folded text), or its PAN. */
function numberSpans(text: string, run: string, at: number, spans: Span[]): void {
  if (run.length < minNumberDigits) {
    if (run.length === 4) {
      const pan = panAround(text, at, at + 4);
      if (pan) spans.push(pan);
    }
    return;
  }
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < run.length;) {
    const code = run.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      starts.push(i);
      while (i < run.length && run.charCodeAt(i) >= 48 && run.charCodeAt(i) <= 57) i++;
      ends.push(i);
    } else i++;
  }
  const count = starts.length;
  const plus = run.charCodeAt(0) === 43 || run.charCodeAt(1) === 43; // "+" or "(+"
  const separator = (i: number) => run.slice(ends[i], starts[i + 1]);
  // Amounts grouped by commas (8,656 · 1,50,000 · 2,500.50) are never personal data, and no
  // phone runs through one.
  const amount = new Uint8Array(count);
  for (let i = 0; i < count;) {
    let j = i;
    while (j + 1 < count && separator(j) === ",") j++;
    if (j > i && ends[i] - starts[i] <= 3) {
      let grouped = ends[j] - starts[j] === 3;
      for (let k = i + 1; k < j && grouped; k++) {
        const length = ends[k] - starts[k];
        grouped = length === 2 || length === 3;
      }
      if (grouped) {
        for (let k = i; k <= j; k++) amount[k] = 1;
        if (j + 1 < count && separator(j) === ".") amount[++j] = 1;
      }
    }
    i = j + 1;
  }
  for (let i = 0; i < count;) {
    const first = run[starts[i]];
    const length = ends[i] - starts[i];
    // Quick refusals: only a "+" run, 0 (trunk or 00), 6-9 (a mobile, 91) or an Aadhaar's
    // 2-9 written in one run or in fours can start a number.
    const possible = !amount[i] && ((plus && i === 0) || first === "0" || first >= "6" ||
      (first >= "2" && (length === 4 || length === 12)));
    let best = -1;
    let kind: TokenKind | null = null;
    if (possible) {
      let digits = "";
      const lengths: number[] = [];
      for (let j = i; j < count && !amount[j]; j++) {
        digits += run.slice(starts[j], ends[j]);
        lengths.push(ends[j] - starts[j]);
        if (digits.length > maxNumberDigits) break;
        if (digits.length < minNumberDigits) continue;
        const found = numberKind(digits, lengths, plus && i === 0);
        if (found) {
          best = j;
          kind = found;
        }
      }
    }
    if (kind === null) {
      if (length === 4 && count > 1) {
        const pan = panAround(text, at + starts[i], at + ends[i]);
        if (pan) spans.push(pan);
      }
      i++;
      continue;
    }
    spans.push({ start: at + (i === 0 ? 0 : starts[i]), end: at + ends[best], kind });
    i = best + 1;
  }
}

/** Emails, found from each `@`: the local part before it, a domain with a dot after it. */
function emailSpans(text: string, spans: Span[]): void {
  for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
    let start = at;
    while (start > 0 && at - start < maxLocalPart) {
      let previous = start - 1;
      const unit = text.charCodeAt(previous);
      if (unit >= 0xDC00 && unit <= 0xDFFF && previous > 0) previous--;
      if (!emailLocalChar.test(text.slice(previous, start))) break;
      start = previous;
    }
    if (start === at) continue;
    emailDomain.lastIndex = at + 1;
    const domain = emailDomain.exec(text);
    if (!domain) continue;
    const end = at + 1 + domain[0].length;
    const last = spans[spans.length - 1];
    if (last && start < last.end) continue;
    spans.push({ start, end, kind: "email" });
    at = end - 1;
  }
}

/** `text` with each span blanked by NUL characters (which no pattern matches). */
function blank(text: string, spans: readonly { start: number; end: number }[]): string {
  if (spans.length === 0) return text;
  const pieces: string[] = [];
  let cursor = 0;
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    if (span.start < cursor) {
      if (span.end > cursor) {
        pieces.push("\0".repeat(span.end - cursor));
        cursor = span.end;
      }
      continue;
    }
    pieces.push(text.slice(cursor, span.start), "\0".repeat(span.end - span.start));
    cursor = span.end;
  }
  pieces.push(text.slice(cursor));
  return pieces.join("");
}

// ---------------------------------------------------------------------------------------------
// The redactor of one set of known people.

class Redactor {
  readonly #customer: RegExp | null;
  readonly #agent: RegExp | null;

  constructor(customer: string[], agent: string[]) {
    const customerRun = nameRunPattern(customer);
    const agentRun = nameRunPattern(agent);
    this.#customer = customerRun ? new RegExp(customerRun, "gu") : null;
    this.#agent = agentRun ? new RegExp(agentRun, "gu") : null;
  }

  /** `text` with personal data replaced; names too unless `withNames` is false. */
  redact(text: string, withNames: boolean): string {
    const original = wellFormed(text);
    const folded = fold(original);
    const spans: Span[] = [];
    // Emails first, then UUIDs and tokens kept: all three blanked for the passes after, so a
    // name or a number never runs into them.
    emailSpans(folded.text, spans);
    const kept: { start: number; end: number }[] = [];
    if (folded.text.includes("<")) {
      for (const match of folded.text.matchAll(tokenPattern)) {
        kept.push({ start: match.index, end: match.index + match[0].length });
      }
    }
    if (folded.text.includes("-")) {
      for (const match of folded.text.matchAll(uuidTail)) {
        const start = match.index - 8;
        if (start >= 0 && hex8.test(folded.text.slice(start, match.index))) {
          kept.push({ start, end: match.index + match[0].length });
        }
      }
    }
    const masked = blank(folded.text, [...spans, ...kept]);
    numberPattern.lastIndex = 0;
    // Each match is a whole run: it starts at the first digit (or lead) after a non-digit.
    for (let match = numberPattern.exec(masked); match; match = numberPattern.exec(masked)) {
      numberSpans(masked, match[0], match.index, spans);
    }
    if (withNames) {
      for (
        const [pattern, kind] of [[this.#customer, "customer"], [this.#agent, "agent"]] as const
      ) {
        if (!pattern) continue;
        for (const match of masked.matchAll(pattern)) {
          spans.push({ start: match.index, end: match.index + match[0].length, kind });
        }
      }
    }
    if (spans.length === 0) return original;
    // Earliest first, the longest of those starting together; an overlap joins the token before.
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    const out: string[] = [];
    let cursor = 0;
    for (const span of spans) {
      const start = originalAt(folded, span.start, "start");
      const end = originalAt(folded, span.end - 1, "end");
      if (start < cursor) {
        cursor = Math.max(cursor, end);
        continue;
      }
      out.push(original.slice(cursor, start), redactionTokens[span.kind]);
      cursor = end;
    }
    out.push(original.slice(cursor));
    return out.join("");
  }
}

const redactors = new Map<string, Redactor>();
const maxRedactors = 64;

/** The redactor of a set of known people, compiled once and kept (the 64 latest sets). */
function redactorFor(known: KnownPeople): Redactor {
  const customer = names(known.customer);
  const agent = names(known.agent);
  const key = JSON.stringify([customer, agent]);
  let redactor = redactors.get(key);
  if (redactor) {
    redactors.delete(key);
  } else {
    redactor = new Redactor(customer, agent);
    if (redactors.size >= maxRedactors) redactors.delete(redactors.keys().next().value!);
  }
  redactors.set(key, redactor);
  return redactor;
}

/**
 * `text` with personal data replaced by tokens: emails `<email>`, PAN `<pan>`, Aadhaar numbers
 * `<aadhaar>`, phone numbers (Indian in any usual form, any E.164) `<phone>`, and each known name
 * (the full name and each of its parts of two characters or more, titles aside; any case; whole
 * words, `_` and digits counting as word characters) `<customer>` or `<agent>`. Digits of any
 * script, full-width forms and invisible characters inside a number, name or address do not hide
 * it (see the file's header). The rest of the text comes back as it was, except lone UTF-16
 * surrogates, which become U+FFFD. UUIDs and the tokens themselves are left as they are.
 */
export function redact(text: string, known: KnownPeople = {}): string {
  return redactorFor(known).redact(text, true);
}

/** A string in facts that is a code (snake_case identifier), not prose: `motor`, `case_1`. */
const identifier = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

/**
 * A JSON value with redact() applied to every string in it (object keys and numbers are left as
 * they are: keys are ours, numbers are amounts, counts and days; keys are made well-formed). A
 * string that is an identifier (`motor`, `payment_pending`, `case_1`, a feature name) is a code:
 * it keeps its value even when it equals a part of a known name (only numbers are looked for in
 * it). What the assistant sends as a prompt's facts.
 */
export function redactValue<T>(value: T, known: KnownPeople = {}): T {
  const redactor = redactorFor(known);
  const walk = (item: unknown): unknown => {
    if (typeof item === "string") return redactor.redact(item, !identifier.test(item));
    if (Array.isArray(item)) return item.map(walk);
    if (item !== null && typeof item === "object" && !(item instanceof Date)) {
      return Object.fromEntries(
        Object.entries(item as Record<string, unknown>).map(([key, inner]) => [
          wellFormed(key),
          walk(inner),
        ]),
      );
    }
    return item;
  };
  return walk(value) as T;
}

/** The first name of the first known spelling, titles aside; null when none is known. */
function firstName(value: string | readonly string[] | null | undefined): string | null {
  const [name] = names(value);
  return name ? nameParts(name, notFirstNames)[0] ?? name : null;
}

/**
 * An answer made for the desk: `<customer>` back as the customer's first name and `<agent>` as the
 * agent's (left as tokens when the name is not known). The other tokens stay: the model never saw
 * the numbers behind them.
 */
export function personalise(text: string, known: KnownPeople = {}): string {
  const customer = firstName(known.customer);
  const agent = firstName(known.agent);
  let out = text;
  if (customer) out = out.replaceAll(redactionTokens.customer, customer);
  if (agent) out = out.replaceAll(redactionTokens.agent, agent);
  return out;
}
