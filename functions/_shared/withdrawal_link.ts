// The withdrawal link a marketing message carries (issue 13): the gate puts
// <CONSENT_PAGE_BASE_URL>/w/<token> into its text; email providers also offer it as RFC 8058
// one-click unsubscribe headers, which the `consent` function answers.

/** A token's characters: 52 base64url (39 bytes: version, kid, message, expiry, MAC). */
const token = "[A-Za-z0-9_-]{52}";

/** A whole withdrawal-link token, as the `consent` function takes it from its path. */
export const linkTokenPattern = new RegExp(`^${token}$`);

/** A withdrawal link inside a text: an http(s) URL ending /consent/w/<token>. */
const withdrawalLinkPattern = new RegExp(
  `https?:\\/\\/[!-~]+?\\/consent\\/w\\/${token}(?![A-Za-z0-9_-])`,
);

/** The first withdrawal link in `text`, or null. */
export function withdrawalLinkIn(text: string | undefined): string | null {
  return text?.match(withdrawalLinkPattern)?.[0] ?? null;
}

/**
 * RFC 2369 / RFC 8058 headers for a marketing email whose text carries its withdrawal link:
 * `List-Unsubscribe: <link>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, so a mail
 * client's unsubscribe button POSTs to the link. Empty for anything else.
 */
export function oneClickUnsubscribeHeaders(
  purpose: string | undefined,
  text: string | undefined,
): Record<string, string> {
  const link = purpose === "marketing" ? withdrawalLinkIn(text) : null;
  return link
    ? { "List-Unsubscribe": `<${link}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" }
    : {};
}
