// The withdrawal page's HTML in Hindi and English: one form with one button, no script, no
// external resource; its only style inline, allowed by its hash in a strict Content-Security-Policy.

/** The languages the page speaks. */
export type PageLanguage = "hi" | "en";

/** What the page shows: the question with its button, the result, or why the link is refused. */
export type PageKind = "ask" | "withdrawn" | "invalid" | "expired" | "used";

const style =
  "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;" +
  "line-height:1.5;color:#1a1a1a}button{font-size:1.1rem;padding:.75rem 1.5rem;border:0;" +
  "border-radius:.5rem;background:#b3261e;color:#fff;cursor:pointer}nav{margin-top:2rem;" +
  "font-size:.9rem}";

const words: Record<
  PageLanguage,
  Record<PageKind, { title: string; text: string }> & {
    button: string;
    other: string;
  }
> = {
  en: {
    ask: {
      title: "Stop offers from Py360?",
      text: "Tap the button to stop offers (marketing messages) on every channel: SMS, " +
        "WhatsApp, email and Telegram. Renewal reminders and receipts for your policies continue.",
    },
    withdrawn: {
      title: "Offers stopped",
      text: "Done. You will receive no more offers from us on any channel.",
    },
    invalid: {
      title: "This link is not valid",
      text: "Please use the link exactly as it came in our message, or reply STOP to it.",
    },
    expired: {
      title: "This link has expired",
      text: "Use the link in a more recent message from us, or reply STOP to it.",
    },
    used: {
      title: "This link was already used",
      text: "Offers were stopped with it already; nothing more to do.",
    },
    button: "Stop offers",
    other: "हिन्दी",
  },
  hi: {
    ask: {
      title: "Py360 से ऑफ़र बंद करें?",
      text: "सभी चैनलों (SMS, WhatsApp, ईमेल और Telegram) पर ऑफ़र (मार्केटिंग संदेश) बंद करने " +
        "के लिए बटन दबाएँ। आपकी पॉलिसी के नवीनीकरण रिमाइंडर और रसीदें जारी रहेंगी।",
    },
    withdrawn: {
      title: "ऑफ़र बंद हो गए",
      text: "हो गया। अब आपको किसी भी चैनल पर हमसे कोई ऑफ़र नहीं मिलेगा।",
    },
    invalid: {
      title: "यह लिंक मान्य नहीं है",
      text: "कृपया हमारे संदेश में आया लिंक ही इस्तेमाल करें, या उस संदेश का जवाब STOP लिखकर दें।",
    },
    expired: {
      title: "इस लिंक की अवधि समाप्त हो गई है",
      text: "हमारे किसी नए संदेश का लिंक इस्तेमाल करें, या उसका जवाब STOP लिखकर दें।",
    },
    used: {
      title: "यह लिंक पहले ही इस्तेमाल हो चुका है",
      text: "इससे ऑफ़र पहले ही बंद किए जा चुके हैं; अब कुछ और करने की ज़रूरत नहीं।",
    },
    button: "ऑफ़र बंद करें",
    other: "English",
  },
};

/** SHA-256 of `text` (UTF-8) in base64, as a CSP hash source writes it. */
async function sha256Base64(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return btoa(String.fromCharCode(...digest));
}

/** The page's Content-Security-Policy: nothing but its own inline style (by hash) and a form
 * posting back to itself. */
export const consentContentSecurityPolicy = [
  "default-src 'none'",
  `style-src 'sha256-${await sha256Base64(style)}'`,
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The page's language: `?lang=` when hi or en, else the customer's (hi for any hi-*), else en. */
export function pageLanguage(asked: string | undefined, customer: string | null): PageLanguage {
  if (asked === "hi" || asked === "en") return asked;
  return customer?.toLowerCase().startsWith("hi") ? "hi" : "en";
}

/** The page for `kind` in `language` (ask carries the form posting back to the same URL). */
export function consentPage(kind: PageKind, language: PageLanguage): string {
  const w = words[language];
  const other: PageLanguage = language === "hi" ? "en" : "hi";
  const form = kind === "ask"
    ? `<form method="post"><input type="hidden" name="lang" value="${language}">` +
      `<button type="submit">${w.button}</button></form>`
    : "";
  const switcher = kind === "ask"
    ? `<nav><a href="?lang=${other}" lang="${other}">${w.other}</a></nav>`
    : "";
  return `<!doctype html><html lang="${language}"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${w[kind].title}</title>` +
    `<style>${style}</style></head><body data-page="${kind}"><main><h1>${w[kind].title}</h1>` +
    `<p>${w[kind].text}</p>${form}</main>${switcher}</body></html>`;
}
