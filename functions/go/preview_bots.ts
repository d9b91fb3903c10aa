// Link-preview fetchers: the robots that fetch a link to draw its preview card, not the customer
// opening it. WhatsApp fetches a preview of every link in a message it delivers (and so do
// iMessage, Telegram, Slack, ...), so a click counted for them would mark every customer
// "engaged" the moment a reminder arrives, and the cadence would stop reminding them. They still
// get the redirect (a preview must work); the `go` function just does not count their fetch.
// Matched as substrings of the User-Agent header, ignoring case. iMessage's previews announce
// themselves as "facebookexternalhit ... Twitterbot", so they are covered. A browser opened from
// WhatsApp (Chrome, Safari) does not say "WhatsApp": those clicks are counted.

/** The User-Agent fragments of the link-preview fetchers (and crawlers) whose fetches are not
 * the customer's click; matched case-insensitively anywhere in the header. */
export const previewBots: readonly string[] = [
  "WhatsApp",
  "facebookexternalhit",
  "Facebot",
  "Twitterbot",
  "TelegramBot",
  "Slackbot",
  "LinkedInBot",
  "Googlebot",
  "bingbot",
  "Discordbot",
  "SkypeUriPreview",
];

const escaped = previewBots.map((bot) => bot.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
const previewBotPattern = new RegExp(escaped.join("|"), "i");

/** Whether a User-Agent header is one of previewBots' (case-insensitive substring). */
export function isPreviewBot(userAgent: string): boolean {
  return previewBotPattern.test(userAgent);
}
