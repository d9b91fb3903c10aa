// Phone numbers, with libphonenumber-js and its full metadata (`/max`, which knows which digits
// make a mobile number, not only how long one is). Customers' numbers are stored in E.164
// (+919812345678); people write them as 098123 45678, 98123-45678, +91 98123 45678,
// 919812345678, (+91) 98123 45678, +91-98123-45678, +91 (0) 98123 45678 or 0091 98123 45678,
// and copy them with non-breaking spaces and typographic dashes. Without a country code a number
// is read as Indian.
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js/max";
import { z } from "@hono/zod-openapi";

/** The country a number without a `+` country code is read in. */
export const defaultPhoneRegion: CountryCode = "IN";

/** What a refused number is told, for people who type Indian numbers. */
export const mobileNumberRule =
  "not a mobile number: an Indian mobile number has 10 digits starting with 6, 7, 8 or 9 " +
  "(+91 or 0 before them is fine); a number from elsewhere needs its + country code";

/** What may separate the parts of a written number: any space, dots, brackets and dashes. */
const separators = /[\s().\u002d\u2010-\u2015\u2212]/g;

/** A written number without its separators: at most one leading +, then 6 to 17 digits. */
const phoneDigits = /^\+?[0-9]{6,17}$/;

/**
 * `text`, trimmed, with typographic dashes and unusual spaces made plain, when it is written like
 * a phone number (digits and the separators above, a + only before the first digit); undefined
 * for anything else, so that names, case and policy numbers are never read as phone numbers.
 */
function phoneLike(text: string): string | undefined {
  const trimmed = text.trim();
  if (!phoneDigits.test(trimmed.replace(separators, ""))) return undefined;
  return trimmed.replace(/\s/g, " ").replace(/[\u2010-\u2015\u2212]/g, "-");
}

/**
 * `text` as an E.164 mobile number (`+919812345678`), or undefined when it is not a valid mobile
 * number (of any country; Indian when no country code is given). Fixed lines are refused: the
 * number is for SMS and WhatsApp.
 */
export function normaliseMobile(text: string): string | undefined {
  const written = phoneLike(text);
  if (written === undefined) return undefined;
  const number = parsePhoneNumberFromString(written, defaultPhoneRegion);
  if (!number?.isValid()) return undefined;
  const type = number.getType();
  return type === "MOBILE" || type === "FIXED_LINE_OR_MOBILE" ? number.number : undefined;
}

/**
 * The E.164 form of a search text that is written like a valid phone number (mobile or not),
 * whatever the spacing, dashes, dots, brackets, `+91` / `(+91)` / `91` / `0091` / `0` / `(0)`
 * prefix; undefined for any other text.
 */
export function phoneSearchForm(text: string): string | undefined {
  const written = phoneLike(text);
  if (written === undefined) return undefined;
  const number = parsePhoneNumberFromString(written, defaultPhoneRegion);
  return number?.isValid() ? number.number : undefined;
}

/**
 * A request field holding a mobile number in any common written form; it validates as the
 * E.164 string, or fails with `mobileNumberRule`.
 */
export const MobilePhone = z.string().max(40).transform((text, ctx) => {
  const e164 = normaliseMobile(text);
  if (e164 === undefined) {
    ctx.addIssue({ code: "custom", message: mobileNumberRule });
    return z.NEVER;
  }
  return e164;
}).openapi({
  type: "string",
  example: "+91 98123 45678",
  description: "A mobile number, with or without +91 / 0, spaces or dashes; stored in E.164 " +
    "(+919812345678). Without a country code it is read as Indian.",
});
