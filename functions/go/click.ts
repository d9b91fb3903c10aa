// The `go` function's one database call: look a tracked link up and, when told, count the click.
import { asServiceInOneTrip } from "../_shared/db.ts";

/** The longest User-Agent kept (public.link_clicks.user_agent), in characters. */
export const maxUserAgentLength = 200;

/**
 * Looks up the tracked link `code` (private.record_link_click, as service_role, in one round
 * trip) and, when `counted`, counts the click with the User-Agent cut to 200 characters. Returns
 * the stored target URL, or null when the code is unknown or expired. Throws what the database
 * throws (a 503 DatabaseUnavailable when it cannot be reached).
 */
export async function recordClick(
  code: string,
  userAgent: string | null,
  counted: boolean,
): Promise<string | null> {
  const [row] = await asServiceInOneTrip<{ target: string | null }[]>`
    select private.record_link_click(${code}, ${userAgent?.slice(0, maxUserAgentLength) ?? null},
                                     ${counted}) as target`;
  return row?.target ?? null;
}
