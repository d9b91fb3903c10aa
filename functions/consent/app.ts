// The `consent` edge function: the small public page behind the withdrawal link every marketing
// message carries (<CONSENT_PAGE_BASE_URL>/w/<token>, issue 13; DPDP Act 2023 s. 6(4):
// withdrawing must be as easy as giving). No login (verify_jwt = false in supabase/config.toml):
// the token is the credential, signed in SQL (HMAC-SHA256 under private.link_signing_keys), naming
// one message, expiring after CONSENT_LINK_DAYS, usable once. The customer is the message's;
// nothing in the request can name another.
// * GET /consent/w/{token}: the question and one button, in the customer's language (hi or en;
//   `?lang=hi|en` overrides). Changes nothing (link previewers fetch it).
// * POST /consent/w/{token}: withdraws marketing on every channel (ledger rows, source
//   withdrawal_link, evidence {message_id}) and shows the result. The body does not matter: the
//   page's form and an RFC 8058 one-click POST (`List-Unsubscribe=One-Click`) both withdraw.
// * A malformed or forged token: 404; expired or used: 410; in both languages, nothing changed.
// Strict Content-Security-Policy, no script, no external resource, never cached, no Referer.
import { createApp } from "../_shared/app.ts";
import { linkTokenPattern } from "../_shared/withdrawal_link.ts";
import { checkLink, type LinkState, withdrawWithLink } from "./link.ts";
import { consentContentSecurityPolicy, consentPage, type PageKind, pageLanguage } from "./page.ts";

/** What the app needs from outside; tests may replace the database calls. */
export interface ConsentDeps {
  check: typeof checkLink;
  withdraw: typeof withdrawWithLink;
}

/** Headers of every page. */
const pageHeaders = {
  "Content-Security-Policy": consentContentSecurityPolicy,
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
};

/** The page and status for a refused link. */
function refused(state: Exclude<LinkState, "valid">): { kind: PageKind; status: 404 | 410 } {
  if (state === "expired") return { kind: "expired", status: 410 };
  if (state === "used") return { kind: "used", status: 410 };
  return { kind: "invalid", status: 404 };
}

/** The `consent` app, serving under `/consent` as Supabase routes the function. */
export function createConsentApp(deps: Partial<ConsentDeps> = {}) {
  const check = deps.check ?? checkLink;
  const withdraw = deps.withdraw ?? withdrawWithLink;
  const app = createApp("consent");

  app.get("/w/:token", async (c) => {
    const token = c.req.param("token");
    const asked = c.req.query("lang");
    if (!linkTokenPattern.test(token)) {
      return c.html(consentPage("invalid", pageLanguage(asked, null)), 404, pageHeaders);
    }
    const link = await check(token);
    const language = pageLanguage(asked, link.language);
    if (link.state !== "valid") {
      const { kind, status } = refused(link.state);
      return c.html(consentPage(kind, language), status, pageHeaders);
    }
    return c.html(consentPage("ask", language), 200, pageHeaders);
  });

  app.post("/w/:token", async (c) => {
    const token = c.req.param("token");
    // The page's form sends its language; a one-click POST sends List-Unsubscribe=One-Click.
    const form = await c.req.parseBody().catch(() => ({} as Record<string, unknown>));
    const asked = c.req.query("lang") ?? (typeof form.lang === "string" ? form.lang : undefined);
    if (!linkTokenPattern.test(token)) {
      return c.html(consentPage("invalid", pageLanguage(asked, null)), 404, pageHeaders);
    }
    const done = await withdraw(token);
    const language = pageLanguage(asked, done.language);
    if (done.state !== "withdrawn") {
      const { kind, status } = refused(done.state);
      return c.html(consentPage(kind, language), status, pageHeaders);
    }
    return c.html(consentPage("withdrawn", language), 200, pageHeaders);
  });

  return app;
}

export default createConsentApp();
