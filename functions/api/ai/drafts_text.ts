// Text helpers of the drafts: filling {{placeholders}} as the gate fills them, and the checks an
// assistant's text must pass before it is used (placeholders we can fill, no stray tokens, the
// language's own script). Pure functions.

/** A {{placeholder}} as the templates write it (the gate's private.template_names pattern). */
const placeholder = /\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g;

/** The variable names a text uses, in order of first appearance, without repeats. */
export function placeholderNames(text: string): string[] {
  return [...new Set([...text.matchAll(placeholder)].map((match) => match[1]))];
}

/** Whether a template's text has the free {{message}} slot (the agent's, or the assistant's, words). */
export const hasMessageSlot = (text: string) => placeholderNames(text).includes("message");

/**
 * `text` with each {{name}} filled from `values` (private.render_template's rules: a missing value
 * leaves {{name}}; a value is not itself filled).
 */
export function fillPlaceholders(text: string, values: Record<string, string>): string {
  return text.replace(placeholder, (whole, name: string) => values[name] ?? whole);
}

/** The values of the names `text` uses that `values` holds: a template's variables. */
export function variablesOf(text: string, values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    placeholderNames(text).filter((name) => name in values).map((name) => [name, values[name]]),
  );
}

/** Scripts of the Indian languages (and Urdu) by ISO 639-1 code: a text in one must use it. */
const scripts: Record<string, { name: string; letters: RegExp }> = {
  hi: { name: "Devanagari", letters: /[\u0900-\u097F]/gu },
  mr: { name: "Devanagari", letters: /[\u0900-\u097F]/gu },
  ne: { name: "Devanagari", letters: /[\u0900-\u097F]/gu },
  bn: { name: "Bengali", letters: /[\u0980-\u09FF]/gu },
  as: { name: "Bengali", letters: /[\u0980-\u09FF]/gu },
  pa: { name: "Gurmukhi", letters: /[\u0A00-\u0A7F]/gu },
  gu: { name: "Gujarati", letters: /[\u0A80-\u0AFF]/gu },
  or: { name: "Odia", letters: /[\u0B00-\u0B7F]/gu },
  ta: { name: "Tamil", letters: /[\u0B80-\u0BFF]/gu },
  te: { name: "Telugu", letters: /[\u0C00-\u0C7F]/gu },
  kn: { name: "Kannada", letters: /[\u0C80-\u0CFF]/gu },
  ml: { name: "Malayalam", letters: /[\u0D00-\u0D7F]/gu },
  ur: { name: "Arabic", letters: /[\u0600-\u06FF]/gu },
};

/** Names of the languages drafts are asked in, for the assistant's instructions. */
export const languageNames: Record<string, string> = {
  en: "English",
  hi: "Hindi",
  mr: "Marathi",
  ne: "Nepali",
  bn: "Bengali",
  as: "Assamese",
  pa: "Punjabi",
  gu: "Gujarati",
  or: "Odia",
  ta: "Tamil",
  te: "Telugu",
  kn: "Kannada",
  ml: "Malayalam",
  ur: "Urdu",
};

/** The base language of a code: `hi` of `hi-IN` or `hi_IN`. */
export const baseLanguage = (code: string) => code.slice(0, 2);

/**
 * The languages a draft may be asked in (ISO 639-1): English and the Indian languages whose name
 * the assistant is given and whose script a draft is checked against (the templates fall back to
 * English where they have no text in one, as the gate does).
 */
export const draftLanguageCodes = Object.keys(languageNames) as [string, ...string[]];

/**
 * A language a draft may be asked in: one of draftLanguageCodes, alone or with India as its
 * region (`hi`, `hi-IN`, `hi_IN`; the customers' and the templates' spellings).
 */
export const draftLanguagePattern = new RegExp(`^(${draftLanguageCodes.join("|")})([-_]IN)?$`);

/** Whether `code` is a language a draft may be written in (draftLanguagePattern). */
export const isDraftLanguage = (code: string) => draftLanguagePattern.test(code);

/**
 * Why `text` is not in `language`'s script, or null when it is (or the language has no script
 * of its own here): a text in an Indic language must have at least as many letters of its script
 * as Latin letters, placeholders aside.
 */
export function scriptProblem(text: string, language: string): string | null {
  const script = scripts[baseLanguage(language)];
  if (!script) return null;
  const words = text.replace(placeholder, " ");
  const own = words.match(script.letters)?.length ?? 0;
  const latin = words.match(/[A-Za-z]/g)?.length ?? 0;
  return own > 0 && own >= latin ? null : `not written in ${script.name} script`;
}

/** Tokens redact() writes that a draft may carry: personalise() turns them into first names. */
const allowedTokens = new Set(["<customer>", "<agent>"]);

/**
 * Why an assistant's text cannot be used as it is, or null: a {{placeholder}} we cannot fill, a
 * stray `{{` or `}}`, or a redaction token other than <customer> and <agent> (the model never saw
 * a phone number, so it must not pretend to write one).
 */
export function textProblem(text: string, fillable: ReadonlySet<string>): string | null {
  const unknown = placeholderNames(text).filter((name) => !fillable.has(name));
  if (unknown.length > 0) return `placeholders we cannot fill: ${unknown.join(", ")}`;
  if (/\{\{|\}\}/.test(text.replace(placeholder, ""))) return "a malformed {{placeholder}}";
  const tokens = [...text.matchAll(/<(phone|email|pan|aadhaar|customer|agent)>/g)]
    .map((match) => match[0]).filter((token) => !allowedTokens.has(token));
  if (tokens.length > 0) return `redaction tokens in the text: ${[...new Set(tokens)].join(", ")}`;
  return null;
}
