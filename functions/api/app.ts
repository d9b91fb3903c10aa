// The `api` edge function: the renewal desk's REST API, documented by its own OpenAPI document.
import { createApp } from "../_shared/app.ts";
import { config } from "../_shared/config.ts";
import packageJson from "../../package.json" with { type: "json" };
import ai from "./ai/index.ts";
import alerts from "./alerts/index.ts";
import autopay from "./autopay/index.ts";
import { jsonBodyLimit } from "./body_limit.ts";
import campaigns from "./campaigns/index.ts";
import cases from "./cases/index.ts";
import channels from "./channels/index.ts";
import communications from "./communications/index.ts";
import consents from "./consents/index.ts";
import customers from "./customers/index.ts";
import dataRequests from "./data-requests/index.ts";
import docs from "./docs/index.ts";
import documents from "./documents/index.ts";
import erasure from "./erasure/index.ts";
import health from "./health/index.ts";
import hierarchy from "./hierarchy/index.ts";
import integrations from "./integrations/index.ts";
import me from "./me/index.ts";
import messages from "./messages/index.ts";
import outstandingAmounts from "./outstanding-amounts/index.ts";
import payments from "./payments/index.ts";
import policies from "./policies/index.ts";
import reminderRules from "./reminder-rules/index.ts";
import reports from "./reports/index.ts";
import retention from "./retention/index.ts";
import tasks from "./tasks/index.ts";
import templates from "./templates/index.ts";
import vendors from "./vendors/index.ts";

const api = createApp("api");
// Before the routes: a middleware added after them does not run for them.
api.use("*", jsonBodyLimit);
const app = api
  .route("/", health)
  .route("/", me)
  .route("/", cases)
  .route("/", outstandingAmounts)
  .route("/", payments)
  .route("/", policies)
  .route("/", autopay)
  .route("/", customers)
  .route("/", consents)
  .route("/", dataRequests)
  .route("/", erasure)
  .route("/", hierarchy)
  .route("/", channels)
  .route("/", messages)
  .route("/", communications)
  .route("/", vendors)
  .route("/", templates)
  .route("/", tasks)
  .route("/", reminderRules)
  .route("/", campaigns)
  .route("/", ai)
  .route("/", reports)
  .route("/", alerts)
  .route("/", retention)
  .route("/", documents)
  .route("/", integrations);

app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
  type: "http",
  scheme: "bearer",
  bearerFormat: "JWT",
  description: "A Supabase access token (the user's session JWT).",
});

app.doc31("/openapi.json", () => ({
  openapi: "3.1.0",
  info: {
    title: "Py360 Renewal API",
    version: packageJson.version,
    description: "The renewal desk: renewal cases (list, read, move along their stages, " +
      "reassign), each case's installments and their offline settlement, premium collection " +
      "through Razorpay (orders for Checkout, checkout verification, payment links, autopay " +
      "mandates, payment history, refunds), the reminder ladder and agents' call tasks, " +
      "campaigns (A/B variants, flows, preview, launch, pause, resume, cancel, stats), customer " +
      "profiles and contact details, the organisation hierarchy and its members, messaging " +
      "channels, " +
      "outbound messages (WhatsApp, SMS, email) sent through the compliance gate, their " +
      "communications delivery status, message templates with their lint, vendor and channel " +
      "reports, the AI assistant (lapse-risk assessments with a next best action, renewal " +
      "recommendations; a rule-based answer whenever the model is off or fails), each policy's " +
      "timeline (every message, delivery report, payment and webhook, AI call, document, task " +
      "and change, with who and why, as JSON or CSV), and the " +
      "caller's own profile. Money is integer paise (₹1 = 100 paise; message " +
      "costs, which may hold fractions of a paisa, are exact decimal strings); dates are Indian " +
      "business days. Errors are RFC 9457 problem+json; every query runs under the caller's " +
      "row-level security.",
    license: { name: packageJson.license, identifier: packageJson.license },
  },
  servers: [{ url: `${config().SUPABASE_URL}/functions/v1`, description: "Edge functions" }],
}));

app.route("/", docs);

export default app;
