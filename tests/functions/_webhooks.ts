// Shared by the webhooks tests: the webhooks app served behind the functions gateway (Supabase's
// URL shape, /functions/v1/webhooks/...) on a free port, the vendor sandbox calling it back, and
// real messages put through the gate, sent by the real providers to the sandbox and recorded as
// the dispatcher records them, so the callbacks find real rows.
import assert from "node:assert/strict";
import { type Config, parseConfig } from "../../functions/_shared/config.ts";
import { type ClaimedMessage, outboundMessage } from "../../functions/_shared/dispatch.ts";
import {
  buildProviders,
  type Provider,
  type ProviderCode,
  type SendResult,
} from "../../functions/_shared/providers/mod.ts";
import { snsCertUrlPatternUnder } from "../../functions/_shared/signatures/sns.ts";
import { createWebhooksApp } from "../../functions/webhooks/app.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { type SnsSigner, snsSigner } from "../../sandbox/sign.ts";
import { gatewayHandler } from "../../scripts/gateway.ts";
import { adminSql } from "./_helpers.ts";

/** WHATSAPP_VERIFY_TOKEN in the tests' configuration. */
export const verifyToken = "py360-webhooks-test-verify-token";

/** The topic the sandbox publishes SES events to (region ap-south-1), allowed by the harness. */
export const sesTopicArn = "arn:aws:sns:ap-south-1:123456789012:ses-events";

/** A running harness: the gateway with the webhooks app, the sandbox, the providers. */
export interface Harness {
  sandbox: Sandbox;
  /** `http://127.0.0.1:PORT/functions/v1` (PUBLIC_FUNCTIONS_URL). */
  functionsUrl: string;
  /** `${functionsUrl}/webhooks`. */
  webhooksUrl: string;
  config: Config;
  /** The variables `config` was parsed from. */
  env: Record<string, string | undefined>;
  providers: Partial<Record<ProviderCode, Provider>>;
  /** A second SNS signer whose certificate the harness serves at `testSnsCertUrl` (allowed). */
  testSns: SnsSigner;
  testSnsCertUrl: string;
  /** Requests that reached the harness's own `/evil/...` paths (a host SNS must never send to). */
  evilRequests: string[];
  evilUrl: string;
  /** The webhooks app built on `config` with `overrides`, for in-process requests. */
  appWith(overrides: Record<string, string | undefined>): ReturnType<typeof createWebhooksApp>;
  close(): Promise<void>;
}

/** Starts the gateway (webhooks only), the sandbox pointed at it, and the providers. */
export async function startHarness(
  { sesConfigurationSet = "py360-events" }: { sesConfigurationSet?: string | null } = {},
): Promise<Harness> {
  let handle: (request: Request) => Promise<Response> = () =>
    Promise.resolve(new Response(null, { status: 503 }));
  const testSns = await snsSigner();
  const evilRequests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/certs/test-sns.pem") return new Response(testSns.certificatePem);
    if (path.startsWith("/evil/")) {
      evilRequests.push(request.url);
      return new Response("ok");
    }
    return handle(request);
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const functionsUrl = `${base}/functions/v1`;
  const webhooksUrl = `${functionsUrl}/webhooks`;
  const sandbox = await startSandbox({
    webhooks: {
      whatsapp: `${webhooksUrl}/whatsapp`,
      sesSns: `${webhooksUrl}/ses`,
      sendgrid: `${webhooksUrl}/sendgrid`,
      twilioInbound: `${webhooksUrl}/twilio`,
    },
  });
  const creds = sandbox.credentials;
  const certRule = `(?:${snsCertUrlPatternUnder(`${sandbox.url}/aws`).source})|(?:${
    snsCertUrlPatternUnder(`${base}/certs`).source
  })`;
  const env: Record<string, string | undefined> = {
    FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
    LOG_LEVEL: "error",
    PUBLIC_FUNCTIONS_URL: functionsUrl,
    TWILIO_ACCOUNT_SID: creds.twilioAccountSid,
    TWILIO_AUTH_TOKEN: creds.twilioAuthToken,
    TWILIO_BASE_URL: `${sandbox.url}/twilio`,
    SMS_SENDER_ID: "PYRNWL",
    AWS_REGION: "ap-south-1",
    AWS_ACCESS_KEY_ID: creds.awsAccessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.awsSecretAccessKey,
    AWS_ENDPOINT_URL: `${sandbox.url}/aws`,
    SES_FROM_EMAIL: "renewals@py360.test",
    SES_CONFIGURATION_SET: sesConfigurationSet ?? undefined,
    SNS_SIGNING_CERT_URL_PATTERN: certRule,
    SNS_TOPIC_ARNS: `${sesTopicArn}, arn:aws:sns:us-east-1:123456789012:other-events`,
    SENDGRID_API_KEY: creds.sendgridApiKey,
    SENDGRID_BASE_URL: `${sandbox.url}/sendgrid`,
    SENDGRID_FROM_EMAIL: "renewals@py360.test",
    SENDGRID_WEBHOOK_PUBLIC_KEY: sandbox.sendgridPublicKey,
    WHATSAPP_ACCESS_TOKEN: creds.whatsappAccessToken,
    WHATSAPP_PHONE_NUMBER_ID: creds.whatsappPhoneNumberId,
    WHATSAPP_APP_SECRET: creds.whatsappAppSecret,
    WHATSAPP_VERIFY_TOKEN: verifyToken,
    GRAPH_BASE_URL: `${sandbox.url}/graph/v21.0`,
    PROVIDER_TIMEOUT_MS: "5000",
  };
  const config = parseConfig(env);
  const app = createWebhooksApp({ config: () => config });
  handle = gatewayHandler(
    new Map([["webhooks", { name: "webhooks", verifyJwt: false, fetch: app.fetch }]]),
  );
  return {
    sandbox,
    functionsUrl,
    webhooksUrl,
    config,
    env,
    providers: buildProviders(config),
    testSns,
    testSnsCertUrl: `${base}/certs/test-sns.pem`,
    evilRequests,
    evilUrl: `${base}/evil`,
    appWith: (overrides) => {
      const changed = parseConfig({ ...env, ...overrides });
      return createWebhooksApp({ config: () => changed });
    },
    close: async () => {
      await sandbox.close();
      await server.shutdown();
    },
  };
}

/** Sets a sandbox vendor's faults or callback mode (control API). */
export async function control(
  sandbox: Sandbox,
  path: string,
  body: Record<string, unknown> = {},
): Promise<unknown> {
  const response = await fetch(`${sandbox.url}/_control/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.ok(response.ok, `${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/**
 * How long a vendor waits before its first callback, in the tests: long enough for `send` to
 * have recorded the send, so the callbacks meet a message that has left `sending` (see
 * `recordAfterCallbacks` for the other order).
 */
export const callbackDelayMs = 400;

/** Sets a vendor's callback mode (normal, duplicate, out_of_order, ...) with callbackDelayMs. */
export function callbacks(
  sandbox: Sandbox,
  vendor: "twilio" | "aws_ses" | "whatsapp_cloud" | "sendgrid",
  mode = "normal",
): Promise<unknown> {
  return control(sandbox, vendor, { callbacks: { mode, delayMs: callbackDelayMs } });
}

/** A fresh Indian mobile number (E.164) no other test customer has. */
export function freshPhone(): string {
  return `+9197${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
}

/** A short random tag for addresses and keys. */
export const tag = () => crypto.randomUUID().slice(0, 8);

/**
 * The templates the webhooks tests send from: transactional (never deferred, never capped), and
 * one marketing SMS offer carrying its withdrawal link, the default consent page's address followed
 * by the token's two halves (the lint requires it).
 */
export async function ensureTemplates(): Promise<void> {
  await adminSql()`
    insert into public.templates (code, channel, language, purpose, subject, body, whatsapp_name,
                                  whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                                  dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
    values
      ('webhooks_test', 'sms', 'en', 'transactional', null,
       'Dear {{customer_name}}, {{policy_number}} expires {{expiry_date}} -PYRNWL', null, null,
       null, null, '1101234567890123456', 'PYRNWL', '1107161234567890777',
       'Dear {#var#}, {#var#} expires {#var#} -PYRNWL'),
      ('webhooks_test', 'email', 'en', 'transactional', 'Renew {{policy_number}}',
       'Dear {{customer_name}}, {{policy_number}} expires {{expiry_date}}.', null, null, null,
       null, null, null, null, null),
      ('webhooks_test', 'whatsapp', 'en', 'transactional', null,
       'Dear {{customer_name}}, {{policy_number}} expires {{expiry_date}}.', 'renewal_reminder',
       'utility', 'approved', 3, null, null, null, null),
      ('webhooks_offer', 'sms', 'en', 'marketing', null,
       'Offer for {{customer_name}}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL',
       null, null, null, null, '1101234567890123456', 'PYRNWL', '1107161234567890778',
       'Offer for {#var#}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#} -PYRNWL')
    on conflict do nothing`;
}

/** What a test customer has. */
export interface CustomerOptions {
  phone?: string;
  email?: string;
  /** Opted in to WhatsApp (a granted service consent on it). */
  whatsapp?: boolean;
  /** Channels with a granted marketing consent. */
  marketing?: ("sms" | "whatsapp" | "email")[];
}

/** A fresh customer (no policy needed: the gate and the webhooks match by id and phone). */
export async function createCustomer(options: CustomerOptions = {}) {
  const sql = adminSql();
  const phone = options.phone ?? freshPhone();
  const email = options.email ?? `c-${tag()}@example.test`;
  const [row] = await sql<{ id: string }[]>`
    insert into public.customers (full_name, phone, email)
    values (${"Webhooks Customer " + tag()}, ${phone}, ${email}) returning id`;
  const consents = [
    ...(options.whatsapp ? [{ channel: "whatsapp", purpose: "service" }] : []),
    ...(options.marketing ?? []).map((channel) => ({ channel, purpose: "marketing" })),
  ];
  for (const consent of consents) {
    await sql`
      insert into public.consents (customer_id, channel, purpose, status, source)
      values (${row.id}, ${consent.channel}, ${consent.purpose}, 'granted', 'web_form')`;
  }
  return { id: row.id, phone, email };
}

/** Puts one message through the gate (template `webhooks_test` unless told); asserts queued. */
export async function enqueue(
  customerId: string,
  channel: "sms" | "email" | "whatsapp",
  { template = "webhooks_test" }: { template?: string } = {},
): Promise<string> {
  const sql = adminSql();
  const [row] = await sql<
    { message_id: string; status: string; blocked_reason: string | null }[]
  >`select * from private.enqueue_messages(${
    sql.json({
      customer_id: customerId,
      channel,
      template_code: template,
      variables: { customer_name: "Meera", policy_number: `P-${tag()}`, expiry_date: "1 Jan" },
      idempotency_key: `webhooks-${tag()}-${tag()}`,
    })
  }::jsonb)`;
  assert.equal(row.status, "queued", row.blocked_reason ?? "");
  return row.message_id;
}

/**
 * Sends `ids` as the dispatcher would: claims (as worker `webhooks-test`), gives back at once any
 * other test's message the claim took, sends ours through the real providers (to the sandbox),
 * and records the results with private.record_send_results. `provider` overrides the channel's
 * provider (e.g. sendgrid for email); `recordAfterCallbacks` records the sends only once every
 * callback has come (they meet messages still `sending`). Returns each message's send result;
 * asserts all were sent.
 */
export async function send(
  harness: Harness,
  ids: string[],
  { provider, recordAfterCallbacks = false }: {
    provider?: ProviderCode;
    recordAfterCallbacks?: boolean;
  } = {},
): Promise<Map<string, SendResult>> {
  const sql = adminSql();
  const worker = "webhooks-test";
  if (provider) {
    await sql`update public.messages set provider = ${provider} where id = any(${ids}::uuid[])`;
  }
  const results = new Map<string, SendResult>();
  const mine = new Set(ids);
  for (let round = 0; round < 5 && results.size < ids.length; round++) {
    const claimed = await sql<ClaimedMessage[]>`
      select * from private.claim_messages(${worker}, 1000)`;
    const others = claimed.filter((row) => !mine.has(row.id)).map((row) => row.id);
    if (others.length > 0) {
      await sql`select private.release_messages(${worker}, ${others}::uuid[], now())`;
    }
    const ours = claimed.filter((row) => mine.has(row.id));
    const sent = await Promise.all(ours.map(async (row) => {
      const chosen = harness.providers[row.provider as ProviderCode];
      assert.ok(chosen, `no provider ${row.provider}`);
      return { row, result: await chosen.send(outboundMessage(row)) };
    }));
    if (recordAfterCallbacks) await harness.sandbox.callbacksSettled();
    await sql`select private.record_send_results(${worker}, ${
      sql.json(sent.map(({ row, result }) =>
        result.ok
          ? {
            id: row.id,
            attempt: row.attempts,
            ok: true,
            provider_message_id: result.providerMessageId,
          }
          : {
            id: row.id,
            attempt: row.attempts,
            ok: false,
            disposition: result.disposition,
            code: result.code,
            message: result.message,
          }
      ))
    }::jsonb)`;
    for (const { row, result } of sent) results.set(row.id, result);
  }
  for (const id of ids) {
    const result = results.get(id);
    assert.ok(result?.ok, `message ${id} was not sent: ${JSON.stringify(result)}`);
  }
  return results;
}

/** A message's row as the webhooks left it. */
export async function message(id: string) {
  const [row] = await adminSql()<
    {
      status: string;
      provider: string;
      provider_message_id: string | null;
      last_error_code: string | null;
      cost_paise: number | null;
      delivered_at: Date | null;
      read_at: Date | null;
    }[]
  >`select status::text, provider, provider_message_id, last_error_code,
           cost_paise::float8 as cost_paise, delivered_at, read_at
      from public.messages where id = ${id}`;
  return row;
}

/** The events stored for a message: (vendor status, our status) in key order. */
export async function eventsOf(id: string) {
  return await adminSql()<
    { event_key: string; status: string; message_status: string | null; kind: string }[]
  >`select event_key, status, message_status::text, kind
      from public.message_events where message_id = ${id} order by event_key`;
}

/** Row counts of everything a webhook may write, to prove a refusal wrote nothing. */
export async function writableCounts() {
  const [row] = await adminSql()`
    select (select count(*)::int from public.message_events) as events,
           (select count(*)::int from public.suppressions) as suppressions,
           (select count(*)::int from public.consents where status = 'withdrawn') as withdrawn,
           (select count(*)::int from public.whatsapp_windows) as windows,
           (select count(*)::int from public.messages
             where status not in ('queued', 'sending')) as moved`;
  return row;
}
