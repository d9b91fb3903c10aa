// Rotation without downtime: every secret a vendor (or our own token issuer) signs with has a
// current value and, during a rotation, the previous one, accepted until `NAME_PREVIOUS_UNTIL`
// (an ISO 8601 instant; unset: while `NAME_PREVIOUS` is configured). Every verifier asks this
// file which values are accepted now, tries all of them (never stopping at the first match, so
// the time taken does not say which one matched) and logs which one matched, never the value.
// docs/runbooks/leaked-key.md walks an operator through a rotation.
import type { Config } from "./config.ts";
import { log } from "./log.ts";

/** The secrets that rotate with a `_PREVIOUS` / `_PREVIOUS_UNTIL` pair in the configuration. */
export const rotatingSecretNames = [
  "SUPABASE_JWT_SECRET",
  "TWILIO_AUTH_TOKEN",
  "WHATSAPP_APP_SECRET",
  "WHATSAPP_VERIFY_TOKEN",
  "RAZORPAY_WEBHOOK_SECRET",
  "SENDGRID_WEBHOOK_PUBLIC_KEY",
] as const;

/** A secret with a current and a previous value (see rotatingSecretNames). */
export type RotatingSecretName = typeof rotatingSecretNames[number];

/** Which of a rotating secret's values matched: the current one or the previous one. */
export type SecretSlot = "current" | "previous";

/** The values of one rotating secret accepted at a given instant. */
export interface AcceptedSecrets {
  /** The configuration key, e.g. `TWILIO_AUTH_TOKEN`, or what else names the secret in logs
   * (never the value). */
  name: string;
  /** The current value; undefined when the secret is not configured (the vendor answers 503). */
  current?: string;
  /** The previous value, only while it is still accepted: configured, and `now` before its
   * `_PREVIOUS_UNTIL` when that is set. */
  previous?: string;
}

/**
 * The values of `name` accepted at `now` (default: the current time): the current one, and the
 * previous one if `NAME_PREVIOUS` is set and `NAME_PREVIOUS_UNTIL` is unset or still ahead. The
 * instant `until` itself is already refused. A previous value equal to the current one is
 * dropped (it adds nothing).
 */
export function acceptedSecrets(
  cfg: Config,
  name: RotatingSecretName,
  now: Date = new Date(),
): AcceptedSecrets {
  const current = cfg[name];
  const previous = cfg[`${name}_PREVIOUS` as const];
  const until = cfg[`${name}_PREVIOUS_UNTIL` as const];
  const stillAccepted = previous !== undefined && previous !== current &&
    (until === undefined || now.getTime() < Date.parse(until));
  return { name, current, previous: stillAccepted ? previous : undefined };
}

/**
 * Which accepted value `check` holds for: `"current"`, `"previous"` or null for none. Both
 * values are always checked (in parallel, neither short-circuiting the other), so a refusal and a
 * match with either take the same work. A check that throws counts as no match. Never throws.
 */
export async function matchSecret(
  secrets: AcceptedSecrets,
  check: (secret: string) => boolean | Promise<boolean>,
): Promise<SecretSlot | null> {
  const attempt = async (secret: string | undefined): Promise<boolean> => {
    if (!secret) return false;
    try {
      return (await check(secret)) === true;
    } catch {
      return false;
    }
  };
  const [current, previous] = await Promise.all([
    attempt(secrets.current),
    attempt(secrets.previous),
  ]);
  return current ? "current" : previous ? "previous" : null;
}

/**
 * Logs which value of a rotating secret matched (`vendor` names the caller, e.g. `twilio`): the
 * previous one at info (the rotation is not finished: something still signs with it), the
 * current one at debug. The log carries the configuration key, never a value.
 */
export function logSecretMatch(vendor: string, name: string, slot: SecretSlot): void {
  log(slot === "previous" ? "info" : "debug", "secret matched", {
    vendor,
    config_key: name,
    matched: slot,
  });
}
