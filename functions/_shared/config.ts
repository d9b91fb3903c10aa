// The environment, parsed once with zod. Supabase's own variables are required; each vendor is
// enabled only when all its credentials are present, and otherwise disabled with a message that
// names what is missing. A missing vendor never stops the functions from booting.
import { z } from "zod";
import { checkQuietLines } from "./log.ts";

const optional = z.string().trim().min(1).optional().catch(undefined);

/**
 * `NAME_PREVIOUS_UNTIL`: an ISO 8601 instant with its zone (`2026-12-01T06:00:00Z`,
 * `…+05:30`), after which the previous secret of a rotation is refused. Blank counts as unset; a
 * value that is not such an instant fails the configuration (a typo must not keep a retired
 * secret accepted for ever).
 */
const previousUntil = z.preprocess(
  (value) => typeof value === "string" && value.trim() === "" ? undefined : value,
  z.iso.datetime({ offset: true, error: "must be an ISO 8601 instant, e.g. 2026-12-01T06:00:00Z" })
    .optional(),
);

/**
 * AWS's rule for an SNS SigningCertURL (aws-js-sns-message-validator): https, a host
 * `sns.<region>.amazonaws.com` (or `.com.cn`), a path ending in `.pem`.
 */
export const defaultSnsCertUrlPattern =
  "^https://sns\\.[a-zA-Z0-9\\-]{3,}\\.amazonaws\\.com(\\.cn)?/[^?#]*\\.pem$";

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const envSchema = z.object({
  SUPABASE_URL: z.url().default("http://127.0.0.1:54321"),
  // Not SUPABASE_DB_URL: on Supabase that is the platform's `postgres` login, which the pool
  // refuses, and SUPABASE_* names cannot be set as secrets. See functions/_shared/db.ts.
  FUNCTIONS_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL"),
  SUPABASE_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  // During a rotation of the JWT secret, tokens signed with the previous one are still accepted
  // (until _UNTIL, if set). See docs/runbooks/leaked-key.md.
  SUPABASE_JWT_SECRET_PREVIOUS: z.string().min(32, "must be at least 32 characters").optional(),
  SUPABASE_JWT_SECRET_PREVIOUS_UNTIL: previousUntil,
  SUPABASE_JWKS_URL: z.url().optional(),
  // The `iss` of user tokens; GoTrue writes `${SUPABASE_URL}/auth/v1`, the default.
  JWT_ISSUER: z.url().optional(),
  // The `iss` of the anon and service_role API keys: `supabase` on a hosted project.
  API_KEY_ISSUER: z.string().trim().min(1).default("supabase"),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(50).default(5),
  // How the pool's connections are named in pg_stat_activity (the worker names its own).
  DB_APPLICATION_NAME: z.string().regex(/^[a-z0-9_-]{1,60}$/).default("py360-functions"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),

  TWILIO_ACCOUNT_SID: optional,
  TWILIO_AUTH_TOKEN: optional,
  // The Auth Token before a rotation: still accepted on webhooks (until _UNTIL, if set); never
  // used to call Twilio.
  TWILIO_AUTH_TOKEN_PREVIOUS: optional,
  TWILIO_AUTH_TOKEN_PREVIOUS_UNTIL: previousUntil,
  TWILIO_BASE_URL: z.url().default("https://api.twilio.com"),
  // Twilio sends through a Messaging Service when this is set, otherwise `From` the sender id.
  TWILIO_MESSAGING_SERVICE_SID: optional,
  // The default SMS sender (Twilio `From`, SNS `AWS.SNS.SMS.SenderID`): a number in E.164 or,
  // for India, the DLT header (3-11 alphanumerics); a message's own dlt.senderId wins.
  SMS_SENDER_ID: optional,
  AWS_REGION: z.string().default("us-east-1"),
  AWS_ACCESS_KEY_ID: optional,
  AWS_SECRET_ACCESS_KEY: optional,
  AWS_ENDPOINT_URL: z.url().optional(),
  SES_FROM_EMAIL: z.email().optional().catch(undefined),
  // SES configuration set whose event destination publishes bounces etc. to SNS (optional).
  SES_CONFIGURATION_SET: optional,
  // Which SigningCertURL an SNS message may name (a regular expression over the whole URL).
  SNS_SIGNING_CERT_URL_PATTERN: z.string().refine(isRegExp, "must be a valid regular expression")
    .default(defaultSnsCertUrlPattern),
  // The SNS topics (ARNs, comma-separated) whose messages the SES webhook takes; unset: none (503),
  // since any AWS account can subscribe our endpoint to a topic of its own. `npm start` sets the
  // sandbox's topic.
  SNS_TOPIC_ARNS: optional,
  // The documents' Storage bucket: the migrations make `documents`, and its storage.objects
  // policies and upload trigger are keyed on it (the specification's example name was
  // renewal-system-uploads).
  S3_BUCKET_NAME: z.string().default("documents"),
  // Documents' bytes: Supabase Storage's S3 endpoint (https://<ref>.storage.supabase.co/storage/
  // v1/s3; locally s3rver) and its S3 access keys, which bypass Storage's RLS: server-side only.
  STORAGE_S3_ENDPOINT: z.preprocess(
    (value) => typeof value === "string" && value.trim() === "" ? undefined : value,
    z.url().optional(),
  ),
  STORAGE_S3_REGION: z.string().trim().min(1).default("local").catch("local"),
  STORAGE_S3_ACCESS_KEY_ID: optional,
  STORAGE_S3_SECRET_ACCESS_KEY: optional,
  // The largest document POST /api/documents takes, in bytes (10 MiB, the bucket's own limit).
  DOCUMENT_MAX_BYTES: z.coerce.number().int().min(1).max(50 * 1024 * 1024).default(10_485_760),
  // How long a document's presigned GET URL works, in seconds (at most S3's week).
  DOCUMENT_URL_TTL_SECONDS: z.coerce.number().int().min(1).max(604_800).default(300),
  WHATSAPP_ACCESS_TOKEN: optional,
  WHATSAPP_PHONE_NUMBER_ID: optional,
  // Signs Meta's webhooks (X-Hub-Signature-256); not the access token.
  WHATSAPP_APP_SECRET: optional,
  WHATSAPP_APP_SECRET_PREVIOUS: optional,
  WHATSAPP_APP_SECRET_PREVIOUS_UNTIL: previousUntil,
  // Our answer to Meta's GET verify handshake (hub.verify_token).
  WHATSAPP_VERIFY_TOKEN: optional,
  WHATSAPP_VERIFY_TOKEN_PREVIOUS: optional,
  WHATSAPP_VERIFY_TOKEN_PREVIOUS_UNTIL: previousUntil,
  // Graph API version pinned in the base URL.
  GRAPH_BASE_URL: z.url().default("https://graph.facebook.com/v21.0"),
  RAZORPAY_KEY_ID: optional,
  RAZORPAY_KEY_SECRET: optional,
  RAZORPAY_BASE_URL: z.url().default("https://api.razorpay.com"),
  // Signs Razorpay's webhooks (X-Razorpay-Signature); not the key secret. During a rotation the
  // previous one is accepted too, since retries of older events keep the old secret.
  RAZORPAY_WEBHOOK_SECRET: optional,
  RAZORPAY_WEBHOOK_SECRET_PREVIOUS: optional,
  RAZORPAY_WEBHOOK_SECRET_PREVIOUS_UNTIL: previousUntil,
  OPENAI_API_KEY: optional,
  OPENAI_BASE_URL: z.url().default("https://api.openai.com/v1"),
  // The AI assistant (functions/_shared/ai/): off unless "true"; off, every AI answer is the
  // rule-based one and nothing is sent to OpenAI. The app setting of the same name is the
  // admins' switch on top of it.
  // (Blank counts as unset, like the vendors' variables.)
  ENABLE_AI_ASSISTANT: z.preprocess(
    (value) => typeof value === "string" && value.trim() === "" ? undefined : value,
    z.enum(["true", "false"], { error: 'must be "true" or "false"' }).default("false"),
  ).transform((value) => value === "true"),
  // How long one model call may take before the assistant gives the rule-based answer, in ms.
  AI_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(8_000),
  SENDGRID_API_KEY: optional,
  SENDGRID_BASE_URL: z.url().default("https://api.sendgrid.com"),
  SENDGRID_FROM_EMAIL: z.email().optional().catch(undefined),
  // The Event Webhook's verification key as SendGrid shows it (base64 DER SPKI, `MFkw...`).
  SENDGRID_WEBHOOK_PUBLIC_KEY: optional,
  // The key before SendGrid's key pair was regenerated: still verifies until _UNTIL, if set.
  SENDGRID_WEBHOOK_PUBLIC_KEY_PREVIOUS: optional,
  SENDGRID_WEBHOOK_PUBLIC_KEY_PREVIOUS_UNTIL: previousUntil,
  TELEGRAM_BOT_TOKEN: optional,
  TELEGRAM_BASE_URL: z.url().default("https://api.telegram.org"),
  // After a reconnect (a new webhook secret), how long the previous secret is still accepted, in
  // seconds (0: at once refused): updates Telegram queued before setWebhook took effect.
  TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS: z.coerce.number().int().min(0).max(604_800)
    .default(3600),
  // Social integrations (issue 12). Tokens are encrypted with AES-256-GCM under this key (base64
  // of 32 bytes); the previous key, during a rotation, only decrypts.
  SOCIAL_TOKEN_ENCRYPTION_KEY: optional,
  SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS: optional,
  FACEBOOK_APP_ID: optional,
  FACEBOOK_APP_SECRET: optional,
  // The login dialog's base (the token exchange and Graph calls use GRAPH_BASE_URL).
  FACEBOOK_DIALOG_BASE_URL: z.url().default("https://www.facebook.com/v21.0"),
  X_CLIENT_ID: optional,
  X_CLIENT_SECRET: optional,
  X_AUTHORIZE_URL: z.url().default("https://x.com/i/oauth2/authorize"),
  X_API_BASE_URL: z.url().default("https://api.x.com"),
  LINKEDIN_CLIENT_ID: optional,
  LINKEDIN_CLIENT_SECRET: optional,
  LINKEDIN_OAUTH_BASE_URL: z.url().default("https://www.linkedin.com/oauth/v2"),
  LINKEDIN_API_BASE_URL: z.url().default("https://api.linkedin.com"),
  // Where vendors reach our functions (Twilio's StatusCallback); unset: $SUPABASE_URL/functions/v1.
  PUBLIC_FUNCTIONS_URL: z.url().optional(),
  // How long one vendor call may take before it counts as a (transient) timeout, in milliseconds.
  PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
});

type Env = z.infer<typeof envSchema>;

/** Every variable the functions read, so a test runner can keep a developer's own out. */
export const configVariables = Object.keys(envSchema.shape);

/**
 * Whether a variable holds a secret: a token, secret, password, API key, private or encryption
 * key (and their `_PREVIOUS` values). Not ids, URLs, `_UNTIL` instants or public keys
 * (SENDGRID_WEBHOOK_PUBLIC_KEY verifies, it cannot sign). A secret is never logged or returned:
 * the egress guard (functions/_shared/egress_guard.ts) and `npm test`'s scan look for these.
 */
export function isSecretVariable(name: string): boolean {
  return /(TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY|ENCRYPTION_KEY)(_PREVIOUS)?$/.test(name);
}

/** The variables that hold secrets (see isSecretVariable). */
export const secretVariables = configVariables.filter(isSecretVariable);

/** The values shorter than this are not looked for by the scans (they would match plain words:
 * no real secret is this short). */
export const minScannedSecretLength = 12;

/**
 * `npm test` only (PY360_TEST_SECRET_SCAN_DIR, set by scripts/test.ts): the secret values each
 * configuration parsed in this process holds, written once each to `<dir>/<pid>.tsv`, so that
 * the harness can look for them in everything the tests printed, whichever test set them. The
 * values are the tests' throwaway ones; the variable is never set anywhere else.
 */
const scanDir = (() => {
  try {
    return Deno.env.get("PY360_TEST_SECRET_SCAN_DIR") || undefined;
  } catch {
    return undefined;
  }
})();
/** The values recorded by this process, with their variables. */
const scanned = new Map<string, string>();

function appendForScan(file: string, lines: string): void {
  try {
    Deno.writeTextFileSync(`${scanDir}/${Deno.pid}.${file}`, lines, { append: true });
  } catch {
    // A process without write permission: its values go unscanned rather than it failing.
  }
}

function recordForScan(env: Record<string, unknown>): void {
  if (!scanDir) return;
  let lines = "";
  for (const name of secretVariables) {
    const value = env[name];
    if (typeof value !== "string" || value.length < minScannedSecretLength) continue;
    if (scanned.has(value)) continue;
    scanned.set(value, name);
    lines += `${name}\t${encodeURIComponent(value)}\n`;
  }
  if (lines) appendForScan("tsv", lines);
}

// The log lines below LOG_LEVEL are not written, so the harness cannot read them: they are
// searched here for the recorded values, and a hit is noted in `<pid>.leaks` (the variable, the
// level and the line's msg; never the value) for the harness to count.
if (scanDir) {
  checkQuietLines((line) => {
    for (const [value, name] of scanned) {
      if (!line.includes(value)) continue;
      let where = "a log line";
      try {
        const { level, msg } = JSON.parse(line);
        where = `a log line below LOG_LEVEL (${level}, msg ${JSON.stringify(msg)})`;
      } catch { /* not JSON: said as a log line */ }
      appendForScan("leaks", `${name}\t${where}\n`);
    }
  });
}

/** Which variables each vendor needs before it is switched on. */
const vendorRequirements = {
  twilio: ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
  ses: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SES_FROM_EMAIL"],
  sns: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
  s3: ["STORAGE_S3_ENDPOINT", "STORAGE_S3_ACCESS_KEY_ID", "STORAGE_S3_SECRET_ACCESS_KEY"],
  whatsapp: ["WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"],
  whatsapp_webhook: ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"],
  razorpay: ["RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET"],
  razorpay_webhook: ["RAZORPAY_WEBHOOK_SECRET"],
  openai: ["OPENAI_API_KEY"],
  sendgrid: ["SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL"],
  sendgrid_webhook: ["SENDGRID_WEBHOOK_PUBLIC_KEY"],
  telegram: ["TELEGRAM_BOT_TOKEN"],
  facebook: ["FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET", "SOCIAL_TOKEN_ENCRYPTION_KEY"],
  x: ["X_CLIENT_ID", "X_CLIENT_SECRET", "SOCIAL_TOKEN_ENCRYPTION_KEY"],
  linkedin: ["LINKEDIN_CLIENT_ID", "LINKEDIN_CLIENT_SECRET", "SOCIAL_TOKEN_ENCRYPTION_KEY"],
} as const satisfies Record<string, readonly (keyof Env)[]>;

/** A vendor the functions can talk to. */
export type VendorName = keyof typeof vendorRequirements;
/** Whether a vendor is switched on, and if not, which variables it still needs. */
export type VendorStatus = { enabled: true } | { enabled: false; reason: string };

/** The parsed environment, the vendors' status and the issuer user tokens must carry. */
export interface Config extends Env {
  vendors: Record<VendorName, VendorStatus>;
  /** The `iss` a user's access token must carry: JWT_ISSUER, or `${SUPABASE_URL}/auth/v1`. */
  authIssuer: string;
  /** Our functions' public base (no trailing slash): PUBLIC_FUNCTIONS_URL, else
   * `${SUPABASE_URL}/functions/v1`. Twilio's StatusCallback is built on it. */
  publicFunctionsUrl: string;
  /** SNS_SIGNING_CERT_URL_PATTERN compiled: which certificate URLs an SNS message may name. */
  snsCertUrlPattern: RegExp;
}

/** A bad environment: one line per variable in `issues`, never the variable's value. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n  ${issues.join("\n  ")}`);
  }
}

function vendorStatus(env: Env, required: readonly (keyof Env)[]): VendorStatus {
  const missing = required.filter((name) => env[name] === undefined);
  return missing.length === 0
    ? { enabled: true }
    : { enabled: false, reason: `disabled: set ${missing.join(", ")}` };
}

/** Parses an environment; throws ConfigError naming each bad variable (never its value). */
export function parseConfig(source: Record<string, string | undefined>): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`),
    );
  }
  const env = parsed.data;
  recordForScan(env);
  const vendors = Object.fromEntries(
    Object.entries(vendorRequirements).map(([name, required]) => [
      name,
      vendorStatus(env, required),
    ]),
  ) as Record<VendorName, VendorStatus>;
  const supabaseUrl = env.SUPABASE_URL.replace(/\/+$/, "");
  const authIssuer = env.JWT_ISSUER ?? `${supabaseUrl}/auth/v1`;
  const publicFunctionsUrl = (env.PUBLIC_FUNCTIONS_URL ?? `${supabaseUrl}/functions/v1`)
    .replace(/\/+$/, "");
  const snsCertUrlPattern = new RegExp(env.SNS_SIGNING_CERT_URL_PATTERN);
  return { ...env, vendors, authIssuer, publicFunctionsUrl, snsCertUrlPattern };
}

let cached: Config | undefined;

/** The process's configuration, parsed on first use. */
export function config(): Config {
  cached ??= parseConfig(Deno.env.toObject());
  return cached;
}
