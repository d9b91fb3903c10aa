// Personal data out of what is sent to the model (issue 10, "Guard rails"): phone numbers, emails,
// PAN and Aadhaar numbers and the names we know become tokens (`<phone>`, `<email>`, `<pan>`,
// `<aadhaar>`, `<customer>`, `<agent>`), so no prompt carries them. The prompts are built from facts
// that hold no personal data in the first place (ids, dates, amounts, product line, stage, risk
// reasons); this is the second line, for free text (an agent's chat message, a note).
//
// Patterns are deliberately wide (a false positive costs a word of context, a miss leaks a
// number): Indian mobiles with or without +91 / 0091 / (+91) / 0, spaced or hyphenated in the
// usual groupings, landlines with their 0 STD code, any number written in E.164 (+ and country
// code), Aadhaar as 12 digits in one run or 4-4-4, PAN as five letters, four digits and a letter.
// Devanagari digits (०-९) count as digits. UUIDs are left whole (ids are facts, and a run of twelve
// digits inside one is not an Aadhaar number).

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

// A digit: ASCII or Devanagari.
const D = "[0-9\u0966-\u096F]";
// A separator inside a number: one space (any kind), hyphen or dot.
const S = "[\\s\\u00A0.\\-]?";
// A word (PAN) not inside a longer run of letters or digits; a number not inside a longer number
// (letters may touch it: "mob9876543210" is still a phone).
const wordBefore = "(?<![\\p{L}\\p{N}\\p{M}])";
const wordAfter = "(?![\\p{L}\\p{N}\\p{M}])";
const numberBefore = "(?<![\\p{N}+])";
const numberAfter = "(?!\\p{N})";

const uuidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const emailPattern =
  /[\p{L}\p{M}\p{N}._%+-]+@[\p{L}\p{M}\p{N}-]+(?:\.[\p{L}\p{M}\p{N}-]+)*\.[\p{L}\p{M}]{2,}/gu;
const panPattern = new RegExp(`${wordBefore}[A-Za-z]{5}${D}{4}[A-Za-z]${wordAfter}`, "gu");
// 12 digits, the first 2-9 (UIDAI never issues 0 or 1 first), in one run or 4-4-4.
const aadhaarPattern = new RegExp(
  `${numberBefore}[2-9\u0968-\u096F]${D}{3}(?:${D}{8}|[\\s\\u00A0\\-]${D}{4}[\\s\\u00A0\\-]${D}{4})${numberAfter}`,
  "gu",
);
// Indian numbers: an optional +91 / 0091 / (+91) / 91 / 0 prefix, then a mobile (6-9 first) of ten
// digits as 10, 5-5, 3-3-4 or 4-3-3, or a landline (STD code after the 0, 10 digits in all).
const indianPrefix = `(?:(?:\\+|00)${S}91${S}|\\(\\+?91\\)${S}|91${S}|0${S})?`;
const mobile = `[6-9\u096C-\u096F](?:${D}{9}|${D}{4}${S}${D}{5}|${D}{2}${S}${D}{3}${S}${D}{4}|` +
  `${D}{3}${S}${D}{3}${S}${D}{3})`;
const landline = `0${S}[1-9\u0967-\u096F]${D}{1,3}${S}${D}{2,4}${S}${D}{3,4}`;
const indianPhonePattern = new RegExp(
  `${numberBefore}(?:${indianPrefix}${mobile}|${landline})${numberAfter}`,
  "gu",
);
// E.164 as people write it: + and 8 to 15 digits, optionally grouped.
const e164Pattern = new RegExp(
  `${numberBefore}\\+${S}\\(?[1-9]${D}{0,2}\\)?(?:${S}${D}){6,13}${numberAfter}`,
  "gu",
);

// Titles: not a name of their own, however a name is written. ("Kumari" is a title and a middle
// name: it is redacted as a part of a known name, and skipped only when looking for a first name.)
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
    .map((name) => name.normalize("NFC").replace(/\s+/g, " ").trim())
    .filter((name) => name.length > 0);
}

/** A name's parts worth replacing on their own: two characters or more, not a title. */
function nameParts(name: string, skip: Set<string> = titles): string[] {
  return name.split(/[\s.,]+/)
    .map((part) => part.trim())
    .filter((part) => [...part].length >= 2 && !skip.has(part.toLowerCase()));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One pattern for a list of names: full names first, then their parts, longest first. */
function namePattern(list: string[]): RegExp | null {
  const variants = new Set<string>();
  for (const name of list) {
    variants.add(name);
    for (const part of nameParts(name)) variants.add(part);
  }
  const sorted = [...variants].filter((v) => [...v].length >= 2)
    .sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return null;
  const alternatives = sorted.map((v) => escapeRegExp(v).replace(/ /g, "\\s+")).join("|");
  return new RegExp(`(?<![\\p{L}\\p{N}\\p{M}])(?:${alternatives})(?![\\p{L}\\p{N}\\p{M}])`, "giu");
}

/**
 * `text` with personal data replaced by tokens: emails `<email>`, PAN `<pan>`, Aadhaar numbers
 * `<aadhaar>`, phone numbers (Indian in any usual form, any E.164) `<phone>`, and each known name
 * (the full name and each of its parts of two characters or more, titles aside; any case)
 * `<customer>` or `<agent>`. UUIDs and the tokens themselves are left as they are.
 */
export function redact(text: string, known: KnownPeople = {}): string {
  // UUIDs out of the way first, back at the end (they hold runs of digits that are not numbers).
  const held: string[] = [];
  let out = text.normalize("NFC").replace(uuidPattern, (uuid) => {
    held.push(uuid);
    return `\uE000${held.length - 1}\uE000`;
  });
  out = out.replace(emailPattern, redactionTokens.email)
    .replace(panPattern, redactionTokens.pan)
    .replace(aadhaarPattern, redactionTokens.aadhaar)
    .replace(indianPhonePattern, redactionTokens.phone)
    .replace(e164Pattern, redactionTokens.phone);
  const customer = namePattern(names(known.customer));
  if (customer) {
    // "Asha Verma" of "Asha Kumari Verma" is one <customer>, not two.
    out = out.replace(customer, redactionTokens.customer)
      .replace(/<customer>(?:\s+<customer>)+/g, redactionTokens.customer);
  }
  const agent = namePattern(names(known.agent));
  if (agent) {
    out = out.replace(agent, redactionTokens.agent)
      .replace(/<agent>(?:\s+<agent>)+/g, redactionTokens.agent);
  }
  return out.replace(/\uE000(\d+)\uE000/g, (_, index) => held[Number(index)]);
}

/**
 * A JSON value with redact() applied to every string in it (object keys and numbers are left as
 * they are: keys are ours, numbers are amounts, counts and days). What the assistant sends as a
 * prompt's facts.
 */
export function redactValue<T>(value: T, known: KnownPeople = {}): T {
  if (typeof value === "string") return redact(value, known) as T;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, known)) as T;
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [
        key,
        redactValue(item, known),
      ]),
    ) as T;
  }
  return value;
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
