// The `webhooks` edge function: the vendors' delivery callbacks and customers' inbound messages
// (Twilio, Amazon SES through SNS, the WhatsApp Cloud API, SendGrid), Razorpay's payment
// events, and the Telegram bot's updates (a secret header instead of a signature). No JWT (verify_jwt = false in supabase/config.toml): every route checks its vendor's
// signature first, then hands the delivery to the database in one call (messaging events to
// private.record_message_events, Razorpay's to private.ingest_razorpay_event) and answers 2xx.
// Refusals are problem+json: 401 for a missing, forged, altered or stale signature (nothing is
// written), 503 for a vendor whose webhook secret is not configured, 400 for a correctly signed
// body we cannot read, 413 for a body over 1 MiB.
import { bodyLimit } from "hono/body-limit";
import { createApp } from "../_shared/app.ts";
import { config } from "../_shared/config.ts";
import { problemResponse } from "../_shared/errors.ts";
import { recordEvents, type WebhookDeps } from "./events.ts";
import { razorpayRoutes } from "./razorpay.ts";
import { sendgridRoutes } from "./sendgrid.ts";
import { sesRoutes } from "./ses.ts";
import { telegramRoutes } from "./telegram.ts";
import { twilioRoutes } from "./twilio.ts";
import { whatsappRoutes } from "./whatsapp.ts";

/** The largest delivery body accepted, in bytes (vendors batch well below it). */
export const maxBodyBytes = 1024 * 1024;

/**
 * The webhooks app, serving under `/webhooks` as Supabase routes the function. `deps` replaces
 * the process configuration, the recorder or the fetch used to confirm SNS subscriptions (tests
 * pass their own configuration); by default the configuration is read on each request, so a
 * missing vendor secret answers 503 rather than stopping the function from booting.
 */
export function createWebhooksApp(deps: Partial<WebhookDeps> = {}) {
  const full: WebhookDeps = {
    config: deps.config ?? config,
    record: deps.record ?? recordEvents,
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
  };
  const app = createApp("webhooks", { config: full.config });
  app.use(
    "*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        problemResponse(413, {
          detail: `A webhook body may be at most ${maxBodyBytes} bytes.`,
          instance: new URL(c.req.url).pathname,
        }),
    }),
  );
  return app
    .route("/", twilioRoutes(full))
    .route("/", sesRoutes(full))
    .route("/", whatsappRoutes(full))
    .route("/", sendgridRoutes(full))
    .route("/", razorpayRoutes(full))
    .route("/", telegramRoutes(full));
}

const app = createWebhooksApp();

export default app;
