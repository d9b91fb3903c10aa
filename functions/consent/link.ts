// The `consent` function's two database calls, as service_role: check a withdrawal link's token
// (private.consent_link_check) and withdraw with it (private.withdraw_by_consent_link). The token
// is the only credential; the customer is the one its message was sent to.
import { asServiceInOneTrip } from "../_shared/db.ts";

/** What a token is: valid, or why it is refused. */
export type LinkState = "valid" | "malformed" | "forged" | "expired" | "used" | "unknown_message";

/** A checked token: its state and, when its signature holds, the customer's language. */
export interface CheckedLink {
  state: LinkState;
  /** The customer's language (customers.language, e.g. hi or en); null when unknown. */
  language: string | null;
}

/** The answer of a tap: withdrawn, or the state that refused it (nothing changed then). */
export interface Withdrawal {
  state: "withdrawn" | Exclude<LinkState, "valid">;
  language: string | null;
}

/** Checks a token without changing anything. Throws what the database throws. */
export async function checkLink(token: string): Promise<CheckedLink> {
  const [row] = await asServiceInOneTrip<CheckedLink[]>`
    select c.state, c.language from private.consent_link_check(${token}) c`;
  return row ?? { state: "malformed", language: null };
}

/**
 * Withdraws marketing on every channel for the token's customer, once (a second tap is `used`).
 * Throws what the database throws.
 */
export async function withdrawWithLink(token: string): Promise<Withdrawal> {
  const [row] = await asServiceInOneTrip<{ answer: Withdrawal }[]>`
    select private.withdraw_by_consent_link(${token}) as answer`;
  return row.answer;
}
