// Real sends through every provider to the vendor sandbox (sandbox/mod.ts) over HTTP: success
// with the vendor's message id, each vendor's error envelope to its disposition, the vendors' own
// 429s, outages, timeouts, the India DLT ids reaching SNS unchanged, and our message id reaching
// the vendor (inspection API `ourId`). The sandbox's control API injects the faults.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { sesProvider } from "../../functions/_shared/providers/aws_ses.ts";
import { snsProvider } from "../../functions/_shared/providers/aws_sns.ts";
import { ruleFor } from "../../functions/_shared/providers/classify.ts";
import {
  buildProviders,
  errorTables,
  type OutboundMessage,
  type Provider,
  type ProviderCode,
  type SendFailure,
  type SendResult,
} from "../../functions/_shared/providers/mod.ts";
import { sendgridProvider } from "../../functions/_shared/providers/sendgrid.ts";
import { telegramBotProvider } from "../../functions/_shared/providers/telegram_bot.ts";
import { twilioProvider } from "../../functions/_shared/providers/twilio.ts";
import { whatsappProvider } from "../../functions/_shared/providers/whatsapp_cloud.ts";
import { startSandbox } from "../../sandbox/mod.ts";

// One sandbox and one status-callback receiver for the file, reset before each test; closed by
// the last test. The servers outlive single tests, so the sanitizers are off for these tests.
const sandbox = await startSandbox();
const received: URL[] = [];
const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  received.push(new URL(request.url));
  return new Response(null, { status: 204 });
});
const receiverUrl = `http://127.0.0.1:${receiver.addr.port}`;
const creds = sandbox.credentials;
const timeoutMs = 2_000;
const telegramChat = 5_120_000_042;

function sandboxTest(name: string, fn: () => Promise<void>) {
  Deno.test({
    name: `providers sandbox: ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await post("/_control/reset", {});
      // The Telegram user the telegram sample writes to (the sandbox forgets chats on reset).
      await post("/_control/telegram/chats", { chat_id: telegramChat });
      received.length = 0;
      await fn();
    },
  });
}

async function post(path: string, body: unknown): Promise<void> {
  const response = await fetch(`${sandbox.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${path}: ${response.status} ${text}`);
}

/** Sets faults of one vendor (control API). */
function control(code: ProviderCode, faults: Record<string, unknown>): Promise<void> {
  return post(`/_control/${code}`, faults);
}

interface Inspected {
  id: string;
  to: string;
  body?: string;
  subject?: string;
  template?: string;
  params: Record<string, unknown>;
  ourId?: string;
}

/** What a vendor accepted (inspection API). */
async function inspect(code: ProviderCode): Promise<Inspected[]> {
  const response = await fetch(`${sandbox.url}/_inspect/${code}/requests`);
  assert.equal(response.status, 200);
  return await response.json();
}

function failure(result: SendResult): SendFailure {
  assert.equal(result.ok, false, `expected a failure, got ${JSON.stringify(result)}`);
  return result as SendFailure;
}

const dlt = {
  entityId: "1101456780000012345",
  templateId: "1107161234567890123",
  senderId: "PYTHRE",
};
let sequence = 0;
const newId = () => crypto.randomUUID();

function sms(extra: Partial<OutboundMessage> = {}): OutboundMessage {
  sequence++;
  return {
    id: newId(),
    channel: "sms",
    to: "+919810150461",
    body: `Your policy renews on 1 Dec (${sequence})`,
    dlt,
    ...extra,
  };
}

function email(extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    id: newId(),
    channel: "email",
    to: "asha@py360.test",
    subject: "Your renewal",
    body: "Your policy renews on 1 Dec.",
    html: "<p>Your policy renews on 1 Dec.</p>",
    ...extra,
  };
}

function whatsapp(extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    id: newId(),
    channel: "whatsapp",
    to: "+919810150461",
    whatsapp: {
      template: {
        name: "renewal_reminder",
        language: "en",
        components: [{
          type: "body",
          parameters: [
            { type: "text", text: "Asha" },
            { type: "text", text: "POL-123" },
            { type: "text", text: "1 Dec 2026" },
          ],
        }],
      },
    },
    ...extra,
  };
}

const aws = {
  region: "ap-south-1",
  accessKeyId: creds.awsAccessKeyId,
  secretAccessKey: creds.awsSecretAccessKey,
  endpoint: `${sandbox.url}/aws`,
};

/** Each provider pointed at the sandbox, with a deadline of `timeout` ms. */
function providers(timeout = timeoutMs): Record<ProviderCode, Provider> {
  return {
    twilio: twilioProvider({
      accountSid: creds.twilioAccountSid,
      authToken: creds.twilioAuthToken,
      baseUrl: `${sandbox.url}/twilio`,
      from: "PYTHRE",
      statusCallbackUrl: `${receiverUrl}/webhooks/twilio`,
      timeoutMs: timeout,
    }),
    aws_sns: snsProvider({ ...aws, senderId: "PYTHRE", timeoutMs: timeout }),
    aws_ses: sesProvider({ ...aws, from: "noreply@py360.test", timeoutMs: timeout }),
    sendgrid: sendgridProvider({
      apiKey: creds.sendgridApiKey,
      baseUrl: `${sandbox.url}/sendgrid`,
      from: "noreply@py360.test",
      timeoutMs: timeout,
    }),
    whatsapp_cloud: whatsappProvider({
      accessToken: creds.whatsappAccessToken,
      phoneNumberId: creds.whatsappPhoneNumberId,
      baseUrl: `${sandbox.url}/graph/v21.0`,
      timeoutMs: timeout,
    }),
    telegram: telegramBotProvider({
      botToken: creds.telegramBotToken,
      baseUrl: `${sandbox.url}/telegram`,
      timeoutMs: timeout,
    }),
  };
}

const p = providers();
const sample: Record<ProviderCode, () => OutboundMessage> = {
  twilio: sms,
  aws_sns: sms,
  aws_ses: email,
  sendgrid: email,
  whatsapp_cloud: whatsapp,
  telegram: () => ({
    id: newId(),
    channel: "telegram",
    to: String(telegramChat),
    body: `Your policy renews on 1 Dec (${++sequence})`,
  }),
};

sandboxTest("the configuration's providers send to the sandbox and carry our id", async () => {
  const built = buildProviders(parseConfig({
    FUNCTIONS_DB_URL: "postgresql://api_authenticator:pw@127.0.0.1:54322/postgres",
    PUBLIC_FUNCTIONS_URL: receiverUrl,
    TWILIO_ACCOUNT_SID: creds.twilioAccountSid,
    TWILIO_AUTH_TOKEN: creds.twilioAuthToken,
    TWILIO_BASE_URL: `${sandbox.url}/twilio`,
    SMS_SENDER_ID: "PYTHRE",
    AWS_REGION: "ap-south-1",
    AWS_ACCESS_KEY_ID: creds.awsAccessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.awsSecretAccessKey,
    AWS_ENDPOINT_URL: `${sandbox.url}/aws`,
    SES_FROM_EMAIL: "noreply@py360.test",
    SENDGRID_API_KEY: creds.sendgridApiKey,
    SENDGRID_BASE_URL: `${sandbox.url}/sendgrid`,
    SENDGRID_FROM_EMAIL: "noreply@py360.test",
    WHATSAPP_ACCESS_TOKEN: creds.whatsappAccessToken,
    WHATSAPP_PHONE_NUMBER_ID: creds.whatsappPhoneNumberId,
    GRAPH_BASE_URL: `${sandbox.url}/graph/v21.0`,
  }));
  // Telegram is left out: the Bot API carries no id of ours and calls nothing back
  // (tests/functions/telegram.test.ts covers it).
  const idShapes: Omit<Record<ProviderCode, RegExp>, "telegram"> = {
    twilio: /^SM[0-9a-f]{32}$/,
    aws_sns: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    aws_ses: /^[0-9a-f]{16}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-000000$/,
    sendgrid: /^[A-Za-z0-9_-]{10,}$/,
    whatsapp_cloud: /^wamid\./,
  };
  for (const code of Object.keys(idShapes) as (keyof typeof idShapes)[]) {
    const provider = built[code];
    assert.ok(provider, `${code} built from the configuration`);
    const message = sample[code]();
    const result = await provider.send(message);
    assert.ok(result.ok, `${code}: ${JSON.stringify(result)}`);
    assert.match(result.providerMessageId, idShapes[code], code);
    const accepted = await inspect(code);
    assert.equal(accepted.length, 1, code);
    assert.equal(accepted[0].id, result.providerMessageId, code);
    assert.equal(accepted[0].ourId, message.id, `${code}: our message id reached the vendor`);
  }
});

sandboxTest("Twilio: the send's fields, and its status callback names our message", async () => {
  await control("twilio", { callbacks: { mode: "normal" } });
  const message = sms();
  const result = await p.twilio.send(message);
  assert.ok(result.ok);
  const [accepted] = await inspect("twilio");
  assert.equal(accepted.to, "+919810150461");
  assert.equal(accepted.body, message.body);
  assert.equal(accepted.params.From, "PYTHRE");
  assert.equal(
    accepted.params.StatusCallback,
    `${receiverUrl}/webhooks/twilio?message_id=${message.id}`,
  );
  // Twilio calls back at the StatusCallback URL: the callback carries our id.
  const deadline = Date.now() + 5_000;
  while (received.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.ok(received.length > 0, "a status callback arrived");
  assert.equal(received[0].pathname, "/webhooks/twilio");
  assert.equal(received[0].searchParams.get("message_id"), message.id);
});

sandboxTest("AWS SNS: the DLT entity, template and sender ids arrive unchanged", async () => {
  const message = sms({ purpose: "transactional" });
  const result = await p.aws_sns.send(message);
  assert.ok(result.ok, JSON.stringify(result));
  const [accepted] = await inspect("aws_sns");
  assert.equal(accepted.to, "+919810150461");
  assert.equal(accepted.body, message.body);
  const params = JSON.stringify(accepted.params);
  for (const value of [dlt.entityId, dlt.templateId, dlt.senderId, "Transactional"]) {
    assert.ok(params.includes(`"${value}"`), `${value} in ${params}`);
  }
  // Each id under its own attribute name, as awsQuery sent it.
  const attributes = attributeMap(accepted.params);
  assert.equal(attributes["AWS.MM.SMS.EntityId"], dlt.entityId);
  assert.equal(attributes["AWS.MM.SMS.TemplateId"], dlt.templateId);
  assert.equal(attributes["AWS.SNS.SMS.SenderID"], dlt.senderId);
  assert.equal(attributes["AWS.SNS.SMS.SMSType"], "Transactional");
});

/** SNS message attributes from what the sandbox parsed, whatever its exact layout. */
function attributeMap(params: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  // Layout 1: the raw awsQuery fields MessageAttributes.entry.N.Name / .Value.StringValue.
  for (const [key, value] of Object.entries(params)) {
    const match = key.match(/^MessageAttributes\.entry\.(\d+)\.Name$/);
    if (match && typeof value === "string") {
      const string = params[`MessageAttributes.entry.${match[1]}.Value.StringValue`];
      if (typeof string === "string") out[value] = string;
    }
  }
  // Layout 2: a parsed map { name: { DataType, StringValue } } under some key.
  for (const value of Object.values(params)) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [name, attribute] of Object.entries(value as Record<string, unknown>)) {
        const string = (attribute as { StringValue?: unknown } | null)?.StringValue;
        if (typeof string === "string") out[name] ??= string;
      }
    }
  }
  return out;
}

sandboxTest("AWS SES: subject, body and the message_id tag arrive", async () => {
  const message = email();
  const result = await p.aws_ses.send(message);
  assert.ok(result.ok, JSON.stringify(result));
  const [accepted] = await inspect("aws_ses");
  assert.equal(accepted.to, "asha@py360.test");
  assert.equal(accepted.subject, "Your renewal");
  assert.equal(accepted.ourId, message.id);
});

sandboxTest("WhatsApp: the template and our callback data arrive", async () => {
  const message = whatsapp();
  const result = await p.whatsapp_cloud.send(message);
  assert.ok(result.ok, JSON.stringify(result));
  const [accepted] = await inspect("whatsapp_cloud");
  assert.equal(accepted.template, "renewal_reminder");
  assert.equal(accepted.ourId, message.id);
  assert.equal(accepted.params.to, "919810150461");
  // A free-text message inside the window goes as text.
  const text = await p.whatsapp_cloud.send(whatsapp({ whatsapp: { text: "Hello Asha" } }));
  assert.ok(text.ok, JSON.stringify(text));
});

/** Forces `code` on the vendor's next send and returns the classified result. */
async function forced(
  provider: ProviderCode,
  code: string | number,
  status?: number,
): Promise<SendFailure> {
  await control(provider, { failNext: { code, ...(status ? { status } : {}) } });
  const result = failure(await p[provider].send(sample[provider]()));
  assert.equal((await inspect(provider)).length, 0, `${provider} ${code}: nothing accepted`);
  return result;
}

/** Asserts a forced error came back as its own code with its table's disposition. */
function assertClassified(provider: ProviderCode, code: string, result: SendFailure) {
  const rule = ruleFor(errorTables[provider], code, result.message);
  assert.equal(result.code, code, `${provider} ${code}`);
  assert.equal(result.disposition, rule.disposition, `${provider} ${code}`);
  assert.equal(result.addressDead ?? false, rule.addressDead ?? false, `${provider} ${code}`);
}

sandboxTest("Twilio: each error envelope maps to its code's disposition", async () => {
  const cases: [string, string, boolean][] = [
    ["21211", "permanent", true],
    ["21610", "fallback", false],
    ["21614", "permanent", true],
    ["21408", "fallback", false],
    ["21608", "fallback", false],
    ["20003", "fallback", false],
    ["20429", "transient", false],
  ];
  for (const [code, disposition, addressDead] of cases) {
    const result = await forced("twilio", code);
    assertClassified("twilio", code, result);
    assert.equal(result.disposition, disposition, code);
    assert.equal(result.addressDead ?? false, addressDead, code);
  }
  // Wrong credentials are Twilio's own 20003 answer, not a forced one.
  const wrong = twilioProvider({
    accountSid: creds.twilioAccountSid,
    authToken: "0".repeat(32),
    baseUrl: `${sandbox.url}/twilio`,
    from: "PYTHRE",
    statusCallbackUrl: `${receiverUrl}/webhooks/twilio`,
    timeoutMs,
  });
  const refused = failure(await wrong.send(sms()));
  assert.deepEqual([refused.code, refused.disposition], ["20003", "fallback"]);
});

sandboxTest("AWS SNS: each ErrorResponse maps to its code's disposition", async () => {
  for (
    const [code, disposition] of [
      ["InvalidParameter", "permanent"],
      ["Throttling", "transient"],
      ["AuthorizationError", "fallback"],
      ["OptedOut", "permanent"],
      ["InternalError", "transient"],
    ]
  ) {
    const result = await forced("aws_sns", code);
    assertClassified("aws_sns", code, result);
    assert.equal(result.disposition, disposition, code);
  }
  assert.equal((await forced("aws_sns", "OptedOut")).addressDead, true);
  // The SDK's own retries are off: one forced throttle is one request, answered as such.
  await control("aws_sns", { failNext: { code: "Throttling", count: 2 } });
  assert.equal(failure(await p.aws_sns.send(sms())).code, "Throttling");
  assert.ok((await p.aws_sns.send(sms())).ok === false, "the second forced throttle is still due");
  assert.ok((await p.aws_sns.send(sms())).ok, "and the third send goes through");
});

sandboxTest("AWS SES: each ErrorResponse maps to its code's disposition", async () => {
  for (
    const [code, disposition] of [
      ["MessageRejected", "permanent"],
      ["Throttling", "transient"],
      ["MailFromDomainNotVerifiedException", "fallback"],
      ["AccountSendingPausedException", "fallback"],
      ["ConfigurationSetDoesNotExist", "fallback"],
      ["InternalFailure", "transient"],
    ]
  ) {
    const result = await forced("aws_ses", code);
    assertClassified("aws_ses", code, result);
    assert.equal(result.disposition, disposition, code);
  }
  // SES's "Illegal address" is a dead address.
  const illegal = await forced("aws_ses", "InvalidParameterValue");
  assert.deepEqual([illegal.disposition, illegal.addressDead], ["permanent", true]);
  // The SDK's own retries are off for 5xx too: two forced failures fail two sends.
  await control("aws_ses", { failNext: { code: "InternalFailure", count: 2 } });
  assert.equal(failure(await p.aws_ses.send(email())).code, "InternalFailure");
  assert.equal(failure(await p.aws_ses.send(email())).code, "InternalFailure");
  assert.ok((await p.aws_ses.send(email())).ok, "the third send goes through");
  // A wrong access key is AWS's own answer: this account cannot send, the fallback can.
  const wrong = sesProvider({
    ...aws,
    accessKeyId: "AKIAWRONGWRONGWRONG0",
    from: "a@b.test",
    timeoutMs,
  });
  const refused = failure(await wrong.send(email()));
  assert.deepEqual([refused.code, refused.disposition], ["InvalidClientTokenId", "fallback"]);
});

sandboxTest("SendGrid: each error status maps to its disposition", async () => {
  for (
    const [code, disposition] of [
      ["400", "permanent"],
      ["401", "fallback"],
      ["403", "fallback"],
      ["413", "permanent"],
      ["429", "transient"],
    ]
  ) {
    const result = await forced("sendgrid", Number(code), Number(code));
    assertClassified("sendgrid", code, result);
    assert.equal(result.disposition, disposition, code);
  }
  // A wrong key is SendGrid's own 401.
  const wrong = sendgridProvider({
    apiKey: "SG.wrong",
    baseUrl: `${sandbox.url}/sendgrid`,
    from: "noreply@py360.test",
    timeoutMs,
  });
  const refused = failure(await wrong.send(email()));
  assert.deepEqual([refused.code, refused.disposition], ["401", "fallback"]);
});

sandboxTest("WhatsApp: every documented Graph error code maps to its disposition", async () => {
  const codes = [
    "190",
    "10",
    "200",
    "100",
    "368",
    "130429",
    "131056",
    "131048",
    "131049",
    "131026",
    "131047",
    "131052",
    "131053",
    "132000",
    "132001",
    "4",
    "80007",
  ];
  for (const code of codes) {
    const result = await forced("whatsapp_cloud", Number(code));
    assertClassified("whatsapp_cloud", code, result);
  }
  // The dispatch rules, through the real envelope.
  assert.equal((await forced("whatsapp_cloud", 131047)).disposition, "fallback");
  assert.equal((await forced("whatsapp_cloud", 131026)).disposition, "fallback");
  assert.equal((await forced("whatsapp_cloud", 131049)).disposition, "fallback");
  assert.equal((await forced("whatsapp_cloud", 132001)).disposition, "permanent");
  const pair = await forced("whatsapp_cloud", 131056);
  assert.deepEqual([pair.disposition, pair.retryAfterMs], ["transient", 6_000]);
  // A wrong token is Meta's own 190.
  const wrong = whatsappProvider({
    accessToken: "EAAwrong",
    phoneNumberId: creds.whatsappPhoneNumberId,
    baseUrl: `${sandbox.url}/graph/v21.0`,
    timeoutMs,
  });
  const refused = failure(await wrong.send(whatsapp()));
  assert.deepEqual([refused.code, refused.disposition], ["190", "fallback"]);
});

/** Sends `n` messages at once to a provider; returns the results. */
function burst(provider: ProviderCode, n: number): Promise<SendResult[]> {
  return Promise.all(Array.from({ length: n }, () => p[provider].send(sample[provider]())));
}

sandboxTest("each vendor's own 429 or throttle reply is transient", async () => {
  // SNS's throttle is `Throttling` in VENDORS.md and `Throttled` in client-sns's model: both count.
  const throttleCodes: Record<ProviderCode, string[]> = {
    twilio: ["20429"],
    aws_sns: ["Throttling", "Throttled"],
    aws_ses: ["Throttling"],
    sendgrid: ["429"],
    whatsapp_cloud: ["130429"],
    telegram: ["429"],
  };
  for (const provider of Object.keys(throttleCodes) as ProviderCode[]) {
    await control(provider, { rateLimitPerSecond: 1 });
    // Eight at once span at most a few wall-clock seconds, each admitting one: most are refused.
    const results = await burst(provider, 8);
    const accepted = results.filter((result) => result.ok);
    const limited = results.filter((result): result is SendFailure => !result.ok);
    assert.ok(accepted.length >= 1 && accepted.length <= 3, `${provider}: ${accepted.length} ok`);
    assert.equal(limited.length, 8 - accepted.length);
    for (const result of limited) {
      assert.ok(throttleCodes[provider].includes(result.code), `${provider}: ${result.code}`);
      assert.equal(result.disposition, "transient");
    }
    assert.equal((await inspect(provider)).length, accepted.length, provider);
  }
});

sandboxTest("SendGrid's 429 waits until X-RateLimit-Reset (a timestamp)", async () => {
  await control("sendgrid", { rateLimitPerSecond: 1 });
  const results = await burst("sendgrid", 4);
  const limited = results.filter((result): result is SendFailure => !result.ok);
  assert.ok(limited.length >= 2);
  for (const result of limited) {
    // The window resets at the next wall-clock second: a wait of at most a second, not 1.7e9 s.
    assert.ok(
      result.retryAfterMs !== undefined && result.retryAfterMs >= 0 &&
        result.retryAfterMs <= 1_000,
      `retryAfterMs ${result.retryAfterMs}`,
    );
  }
});

sandboxTest("an outage is transient for every vendor", async () => {
  for (const provider of Object.keys(p) as ProviderCode[]) {
    await control(provider, { outage: true });
    const result = failure(await p[provider].send(sample[provider]()));
    assert.equal(result.disposition, "transient", `${provider}: ${JSON.stringify(result)}`);
    assert.equal(result.addressDead, undefined);
    await control(provider, { outage: false });
    assert.ok((await p[provider].send(sample[provider]())).ok, `${provider} recovers`);
  }
});

sandboxTest("a vendor slower than the deadline is a transient timeout", async () => {
  const quick = providers(150);
  for (const provider of Object.keys(quick) as ProviderCode[]) {
    await control(provider, { latencyMs: 1_500 });
    const started = performance.now();
    const result = failure(await quick[provider].send(sample[provider]()));
    const elapsed = performance.now() - started;
    assert.deepEqual([result.code, result.disposition], ["timeout", "transient"], provider);
    assert.ok(elapsed < 1_200, `${provider} gave up after ${Math.round(elapsed)} ms`);
    await control(provider, { latencyMs: 0 });
  }
});

sandboxTest("the caller's abort ends a send as transient, without throwing", async () => {
  for (const provider of Object.keys(p) as ProviderCode[]) {
    await control(provider, { latencyMs: 1_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = failure(await p[provider].send(sample[provider](), controller.signal));
    assert.deepEqual([result.code, result.disposition], ["aborted", "transient"], provider);
    await control(provider, { latencyMs: 0 });
  }
});

sandboxTest("a vendor that cannot be reached is a transient network failure", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  listener.close();
  const unreachable: Provider[] = [
    twilioProvider({
      accountSid: creds.twilioAccountSid,
      authToken: creds.twilioAuthToken,
      baseUrl: `${closed}/twilio`,
      from: "PYTHRE",
      statusCallbackUrl: `${receiverUrl}/webhooks/twilio`,
      timeoutMs,
    }),
    snsProvider({ ...aws, endpoint: `${closed}/aws`, timeoutMs }),
    sesProvider({ ...aws, endpoint: `${closed}/aws`, from: "a@b.test", timeoutMs }),
    sendgridProvider({ apiKey: "SG.x", baseUrl: closed, from: "a@b.test", timeoutMs }),
    whatsappProvider({ accessToken: "x", phoneNumberId: "1", baseUrl: closed, timeoutMs }),
    telegramBotProvider({ botToken: creds.telegramBotToken, baseUrl: closed, timeoutMs }),
  ];
  for (const provider of unreachable) {
    const result = failure(await provider.send(sample[provider.code]()));
    assert.deepEqual([result.code, result.disposition], ["network", "transient"], provider.code);
  }
});

Deno.test({
  name: "providers sandbox: (close the sandbox)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await receiver.shutdown();
    await sandbox.close();
  },
});
