// Constant-time comparison for signatures and MACs, so the time a wrong guess takes does not tell
// an attacker how many leading characters were right (Twilio's SDK uses scmp for the same reason).
import { timingSafeEqual } from "node:crypto";

const encoder = new TextEncoder();

/**
 * Whether two strings have the same UTF-8 bytes, compared in time that does not depend on where
 * they differ. Strings of different byte lengths are unequal at once: the length of a MAC or its
 * encoding is public (fixed by the algorithm), only its content is secret.
 */
export function timingSafeEqualText(given: string, expected: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
