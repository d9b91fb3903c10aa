// POST /webhooks/ses through the functions gateway: real emails sent through the gate and the
// SES provider to the vendor sandbox, whose SES events come back as signed SNS notifications
// (normal, duplicated, out of order, opened, bounced, complained); the subscription handshake;
// SNS messages signed by a second test certificate for what the sandbox does not send (several
// recipients, unknown messages, foreign SubscribeURLs, stale, forged and altered signatures).
import assert from "node:assert/strict";
import { sesEvents } from "../../functions/webhooks/ses.ts";
import { isSnsEndpoint, snsTopicAllowed } from "../../functions/webhooks/ses.ts";
import { snsCertUrlPatternUnder } from "../../functions/_shared/signatures/sns.ts";
import { defaultSnsCertUrlPattern, parseConfig } from "../../functions/_shared/config.ts";
import { createWebhooksApp } from "../../functions/webhooks/app.ts";
import { snsSigner } from "../../sandbox/sign.ts";
import { sesEventsTopicArn } from "../../sandbox/sns_http.ts";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { adminSql, dbTest, expectProblem } from "./_helpers.ts";
import {
  callbacks,
  control,
  createCustomer,
  enqueue,
  ensureTemplates,
  eventsOf,
  type Harness,
  message,
  send,
  sesTopicArn,
  startHarness,
  tag,
  writableCounts,
} from "./_webhooks.ts";

const harness = await startHarness();
const { sandbox } = harness;
const sesUrl = `${harness.webhooksUrl}/ses`;
const topicArn = sesTopicArn;

function sesTest(name: string, fn: () => Promise<void>) {
  dbTest(`webhooks ses: ${name}`, async () => {
    await control(sandbox, "reset");
    await callbacks(sandbox, "aws_ses");
    await ensureTemplates();
    await fn();
  });
}

/** An SNS body signed by the harness's test certificate (or as told), as SNS posts it. */
async function snsBody(
  fields: Record<string, string>,
  { signer = harness.testSns, certUrl = harness.testSnsCertUrl, version = "1" as "1" | "2" } = {},
): Promise<Record<string, string>> {
  const signature = await signer.sign(fields, version);
  return { ...fields, SignatureVersion: version, Signature: signature, SigningCertURL: certUrl };
}

/** A Notification carrying `event` (the SES event JSON), signed. */
function notification(
  event: unknown,
  overrides: Record<string, string> = {},
  version: "1" | "2" = "1",
) {
  return snsBody({
    Type: "Notification",
    MessageId: crypto.randomUUID(),
    TopicArn: topicArn,
    Message: JSON.stringify(event),
    Timestamp: new Date().toISOString(),
    ...overrides,
  }, { version });
}

function post(body: Record<string, string> | string, url = sesUrl): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "text/plain; charset=UTF-8" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** What the webhook answered to each SNS delivery of the sandbox. */
async function callbackAnswers(sandboxUrl = sandbox.url): Promise<number[]> {
  const callbacks: { status: number }[] =
    await (await fetch(`${sandboxUrl}/_inspect/aws_ses/callbacks`)).json();
  return callbacks.map((callback) => callback.status);
}

async function sentEmail(local = "c", on: Harness = harness) {
  const customer = await createCustomer({ email: `${local}+${tag()}@example.test` });
  const id = await enqueue(customer.id, "email");
  const results = await send(on, [id]);
  await on.sandbox.callbacksSettled();
  const result = results.get(id)!;
  assert.ok(result.ok);
  return { customer, id, sesId: result.providerMessageId };
}

sesTest("a sent email reaches delivered (Send, Delivery), found by our id in its tag", async () => {
  const { id, sesId } = await sentEmail();
  const row = await message(id);
  assert.equal(row.status, "delivered");
  assert.equal(row.provider_message_id, sesId);
  assert.deepEqual(
    (await eventsOf(id)).map((e) => [e.status, e.message_status, e.kind]).sort(),
    [["Delivery", "delivered", "status"], ["Send", "sent", "status"]],
  );
  assert.deepEqual(await callbackAnswers(), [200, 200]);
  const [stored] = await adminSql()`
    select payload -> 'mail' ->> 'messageId' as ses_id, provider_message_id
      from public.message_events where message_id = ${id} and status = 'Delivery'`;
  assert.deepEqual(stored, { ses_id: sesId, provider_message_id: sesId });
});

sesTest("an opened email is read, even without a Delivery event", async () => {
  await callbacks(sandbox, "aws_ses", "read_without_delivered");
  const { id } = await sentEmail();
  const row = await message(id);
  assert.equal(row.status, "read");
  assert.ok(row.read_at instanceof Date && row.delivered_at instanceof Date);
  assert.deepEqual((await eventsOf(id)).map((e) => e.status).sort(), ["Open", "Send"]);
});

sesTest("duplicated and out-of-order notifications: one row each, delivered", async () => {
  await callbacks(sandbox, "aws_ses", "duplicate");
  const twice = await sentEmail();
  assert.deepEqual(await callbackAnswers(), [200, 200, 200, 200]);
  assert.equal((await message(twice.id)).status, "delivered");
  assert.equal((await eventsOf(twice.id)).length, 2);

  await control(sandbox, "reset");
  await callbacks(sandbox, "aws_ses", "out_of_order");
  const reversed = await sentEmail();
  assert.equal((await message(reversed.id)).status, "delivered");
  assert.equal((await eventsOf(reversed.id)).length, 2);
});

sesTest("a permanent bounce: undeliverable and the address suppressed", async () => {
  const { id, customer } = await sentEmail("bounce");
  const row = await message(id);
  assert.equal(row.status, "undeliverable");
  assert.equal(row.last_error_code, "Bounce.Permanent.General");
  const [suppression] = await adminSql()`
    select channel::text, reason, message_id from public.suppressions
     where address = ${customer.email}`;
  assert.deepEqual(suppression, { channel: "email", reason: "hard_bounce", message_id: id });
});

sesTest("a complaint suppresses the address; the message stays delivered", async () => {
  const { id, customer } = await sentEmail("complaint");
  assert.equal((await message(id)).status, "delivered");
  assert.deepEqual((await eventsOf(id)).map((e) => [e.status, e.message_status]).sort(), [
    ["Complaint", null],
    ["Delivery", "delivered"],
    ["Send", "sent"],
  ]);
  const [suppression] = await adminSql()`
    select reason from public.suppressions where channel = 'email' and address = ${customer.email}`;
  assert.equal(suppression.reason, "complaint");
});

sesTest("a SubscriptionConfirmation is confirmed by its SubscribeURL and recorded", async () => {
  const answer = await control(sandbox, "aws_ses/subscription-confirmation", {
    region: "ap-south-1",
  }) as { status: number };
  assert.equal(answer.status, 200);
  const subscriptions: { endpoint: string; confirmed: boolean }[] =
    await (await fetch(`${sandbox.url}/_inspect/aws_ses/subscriptions`)).json();
  assert.deepEqual(
    subscriptions.filter((s) => s.endpoint === sesUrl).map((s) => s.confirmed),
    [true],
    "the sandbox saw its SubscribeURL fetched",
  );
  const rows = await adminSql()`
    select kind, status, payload ? 'Token' as has_token from public.message_events
     where provider = 'aws_ses' and kind = 'subscription'
       and payload ->> 'TopicArn' = ${topicArn} and received_at > now() - interval '1 minute'`;
  assert.deepEqual([...rows], [{
    kind: "subscription",
    status: "SubscriptionConfirmation",
    has_token: false,
  }]);
});

sesTest("a SubscribeURL off the SNS hosts is never fetched: 400, nothing written", async () => {
  const before = await writableCounts();
  const body = await snsBody({
    Type: "SubscriptionConfirmation",
    MessageId: crypto.randomUUID(),
    Token: "a".repeat(64),
    TopicArn: topicArn,
    Message: "You have chosen to subscribe to the topic.",
    SubscribeURL: `${harness.evilUrl}/?Action=ConfirmSubscription&Token=x`,
    Timestamp: new Date().toISOString(),
  });
  await expectProblem(await post(body), 400);
  assert.deepEqual(harness.evilRequests, []);
  assert.deepEqual(await writableCounts(), before);
});

sesTest("several recipients: one row each; an unknown message is kept unmatched", async () => {
  const sesId = `0109${tag()}-${crypto.randomUUID()}-000000`;
  const body = await notification({
    eventType: "Delivery",
    mail: { messageId: sesId, destination: ["a@example.test", "b@example.test"], tags: {} },
    delivery: {
      recipients: ["a@example.test", "b@example.test"],
      timestamp: new Date().toISOString(),
    },
  });
  const response = await post(body);
  assert.equal(response.status, 200);
  const rows = await adminSql()`
    select event_key, message_id, provider_message_id from public.message_events
     where provider = 'aws_ses' and provider_message_id = ${sesId} order by event_key`;
  assert.deepEqual([...rows], [
    { event_key: `${body.MessageId}:a@example.test`, message_id: null, provider_message_id: sesId },
    { event_key: `${body.MessageId}:b@example.test`, message_id: null, provider_message_id: sesId },
  ]);
});

sesTest("identity notifications (no configuration set, no tags) match by SES's id", async () => {
  const plain = await startHarness({ sesConfigurationSet: null });
  try {
    await callbacks(plain.sandbox, "aws_ses");
    const { id, sesId } = await sentEmail("c", plain);
    const row = await message(id);
    assert.equal(row.status, "delivered");
    const [event] = await adminSql()`
      select payload ->> 'notificationType' as type, payload -> 'mail' ? 'tags' as tagged
        from public.message_events where message_id = ${id}`;
    assert.deepEqual(event, { type: "Delivery", tagged: false });
    assert.equal(row.provider_message_id, sesId);
  } finally {
    await plain.close();
  }
});

sesTest("missing, forged, altered, stale signatures and foreign certificates: 401", async () => {
  const { id, sesId } = await sentEmail();
  const bounce = {
    eventType: "Bounce",
    mail: { messageId: sesId, tags: { message_id: [id] } },
    bounce: {
      bounceType: "Permanent",
      bounceSubType: "General",
      bouncedRecipients: [{ emailAddress: "bounced@example.test" }],
    },
  };
  const genuine = await notification(bounce);
  const { Signature: _dropped, ...unsigned } = genuine;
  const other = await snsSigner();
  const refusals = [
    unsigned,
    { ...genuine, Signature: "" },
    await snsBody({ ...genuine, Type: "Notification" }, { signer: other }),
    { ...genuine, Message: genuine.Message.replace("Permanent", "Transient") },
    { ...genuine, SignatureVersion: "2" },
    await notification(bounce, {
      Timestamp: new Date(Date.now() - 3 * 3600_000).toISOString(),
    }),
    await snsBody(
      {
        Type: "Notification",
        MessageId: crypto.randomUUID(),
        TopicArn: topicArn,
        Message: JSON.stringify(bounce),
        Timestamp: new Date().toISOString(),
      },
      { certUrl: `${harness.evilUrl}/SimpleNotificationService-x.pem` },
    ),
  ];
  const before = await writableCounts();
  for (const body of refusals) await expectProblem(await post(body), 401);
  await expectProblem(await post("not json at all"), 401);
  assert.deepEqual(await writableCounts(), before);
  assert.deepEqual(harness.evilRequests, [], "a foreign certificate is never fetched");
  assert.equal((await message(id)).status, "delivered");

  // The same notification, untouched, is taken (in both signature versions).
  assert.equal((await post(genuine)).status, 200);
  assert.equal((await message(id)).status, "delivered", "a bounce after delivery ranks level");
  assert.equal(
    (await post(await notification({ ...bounce, eventType: "Open" }, {}, "2"))).status,
    200,
  );
  assert.equal((await message(id)).status, "read");
  assert.equal((await writableCounts()).suppressions, before.suppressions + 1);
});

sesTest("another account's topic: 403 (503 without SNS_TOPIC_ARNS), never confirmed", async () => {
  const foreign = "arn:aws:sns:ap-south-1:999999999999:ses-events";
  const before = await writableCounts();
  const confirmation = await snsBody({
    Type: "SubscriptionConfirmation",
    MessageId: crypto.randomUUID(),
    Token: "b".repeat(64),
    TopicArn: foreign,
    Message: "You have chosen to subscribe to the topic.",
    // On an allowed host: fetching it would answer 400 (unknown token), and so would we 503.
    SubscribeURL: `${sandbox.url}/aws/?Action=ConfirmSubscription&TopicArn=${foreign}&Token=b`,
    Timestamp: new Date().toISOString(),
  });
  await expectProblem(await post(confirmation), 403);
  const delivery = {
    eventType: "Delivery",
    mail: { messageId: `0109${tag()}`, tags: {} },
    delivery: { recipients: ["a@example.test"] },
  };
  await expectProblem(await post(await notification(delivery, { TopicArn: foreign })), 403);
  assert.deepEqual(await writableCounts(), before);

  // Without SNS_TOPIC_ARNS no topic is taken, not even ours: any AWS account could otherwise
  // subscribe us to a topic of its own and post Complaint or Delivery events for our messages.
  // 503 naming the variable; no SubscribeURL fetched, nothing written.
  const ours = await snsBody({
    Type: "SubscriptionConfirmation",
    MessageId: crypto.randomUUID(),
    Token: "c".repeat(64),
    TopicArn: topicArn,
    Message: "You have chosen to subscribe to the topic.",
    SubscribeURL: `${sandbox.url}/aws/?Action=ConfirmSubscription&TopicArn=${topicArn}&Token=c`,
    Timestamp: new Date().toISOString(),
  });
  for (const unset of [undefined, "", " , "]) {
    const fetched: string[] = [];
    const app = createWebhooksApp({
      config: () => parseConfig({ ...harness.env, SNS_TOPIC_ARNS: unset }),
      fetch: (input) => {
        fetched.push(String(input));
        return Promise.resolve(new Response("<ConfirmSubscriptionResponse/>"));
      },
    });
    for (
      const body of [
        confirmation,
        await notification(delivery, { TopicArn: foreign }),
        ours,
        await notification(delivery),
      ]
    ) {
      const refused = await expectProblem(
        await app.request("/webhooks/ses", {
          method: "POST",
          headers: { "content-type": "text/plain; charset=UTF-8" },
          body: JSON.stringify(body),
        }),
        503,
      );
      assert.match(refused.detail, /SNS_TOPIC_ARNS/, JSON.stringify(unset));
    }
    assert.deepEqual(fetched, [], "no subscription confirmed");
  }
  assert.deepEqual(await writableCounts(), before);
});

Deno.test("webhooks ses: the local stack's sandbox variables take the sandbox's topic", () => {
  const config = parseConfig({
    ...sandboxEnv(sandbox, harness.functionsUrl),
    FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
  });
  assert.equal(snsTopicAllowed(sesEventsTopicArn(config.AWS_REGION), config.SNS_TOPIC_ARNS), true);
  assert.equal(
    snsTopicAllowed("arn:aws:sns:ap-south-1:999999999999:ses-events", config.SNS_TOPIC_ARNS),
    false,
  );
});

sesTest("signed but unreadable: 400, nothing written", async () => {
  const before = await writableCounts();
  await expectProblem(await post(await notification("x", { Message: "not json" })), 400);
  await expectProblem(await post(await notification({ eventType: "Delivery" })), 400);
  await expectProblem(await post(await notification({ mail: { messageId: "x" } })), 400);
  assert.deepEqual(await writableCounts(), before);
});

Deno.test("webhooks ses: what each SES event means", () => {
  const sns = (event: unknown) => ({
    Type: "Notification" as const,
    MessageId: "m-1",
    TopicArn: topicArn,
    Message: JSON.stringify(event),
    Timestamp: "2026-11-29T10:00:00.000Z",
    SignatureVersion: "1" as const,
    Signature: "",
    SigningCertURL: "",
  });
  const mail = { messageId: "ses-1", tags: { message_id: ["not-a-uuid"] } };
  const [reject] = sesEvents(sns({ eventType: "Reject", mail, reject: { reason: "Bad content" } }));
  assert.deepEqual([reject.status, reject.error, reject.message_id], [
    "failed",
    "Bad content",
    null,
  ]);
  const [rendering] = sesEvents(sns({ eventType: "Rendering Failure", mail }));
  assert.equal(rendering.status, "failed");
  const [soft] = sesEvents(sns({
    eventType: "Bounce",
    mail,
    bounce: {
      bounceType: "Transient",
      bounceSubType: "MailboxFull",
      bouncedRecipients: [{ emailAddress: "a@example.test" }],
    },
  }));
  assert.deepEqual([soft.status, soft.suppress], [null, undefined], "a soft bounce only informs");
  const hard = sesEvents(sns({
    notificationType: "Bounce",
    mail,
    bounce: {
      bounceType: "Permanent",
      bouncedRecipients: [
        { emailAddress: "Meera <Meera@Example.TEST>" },
        { emailAddress: "x@example.test" },
      ],
    },
  }));
  assert.deepEqual(hard.map((e) => [e.event_key, e.address, e.suppress, e.status]), [
    ["m-1:Meera <Meera@Example.TEST>", "meera@example.test", "hard_bounce", "undeliverable"],
    ["m-1:x@example.test", "x@example.test", "hard_bounce", "undeliverable"],
  ]);
  const [hello] = sesEvents(sns({
    notificationType: "AmazonSnsSubscriptionSucceeded",
    message: "You have successfully subscribed",
  }));
  assert.deepEqual([hello.kind, hello.vendor_status], [
    "subscription",
    "AmazonSnsSubscriptionSucceeded",
  ]);
  assert.throws(() => sesEvents(sns({ eventType: "Delivery" })), /not an SES event/);
});

Deno.test("webhooks ses: SNS_TOPIC_ARNS lists the topics taken", () => {
  const list = " arn:aws:sns:ap-south-1:1:a ,arn:aws:sns:ap-south-1:1:b,";
  assert.equal(snsTopicAllowed("arn:aws:sns:ap-south-1:1:a", list), true);
  assert.equal(snsTopicAllowed("arn:aws:sns:ap-south-1:1:b", list), true);
  assert.equal(snsTopicAllowed("arn:aws:sns:ap-south-1:1:c", list), false);
  assert.equal(snsTopicAllowed("arn:aws:sns:ap-south-1:1:a", ""), false);
  assert.equal(snsTopicAllowed("arn:aws:sns:ap-south-1:1:a", " , "), false);
  assert.equal(snsTopicAllowed("anything", undefined), false, "unset: no topic");
});

Deno.test("webhooks ses: SubscribeURLs are followed only where the certificate rule allows", () => {
  const aws = new RegExp(defaultSnsCertUrlPattern);
  const ok = "https://sns.ap-south-1.amazonaws.com/?Action=ConfirmSubscription&Token=1";
  assert.equal(isSnsEndpoint(ok, aws), true);
  assert.equal(isSnsEndpoint(ok.replace("https", "http"), aws), false);
  assert.equal(isSnsEndpoint("https://sns.ap-south-1.amazonaws.com.evil.test/?x", aws), false);
  assert.equal(isSnsEndpoint("https://evil.test/sns.ap-south-1.amazonaws.com/?x", aws), false);
  assert.equal(isSnsEndpoint("https://u:p@sns.ap-south-1.amazonaws.com/?x", aws), false);
  assert.equal(isSnsEndpoint("not a url", aws), false);
  const local = snsCertUrlPatternUnder("http://127.0.0.1:4010/aws");
  assert.equal(isSnsEndpoint("http://127.0.0.1:4010/aws/?Action=ConfirmSubscription", local), true);
  assert.equal(
    isSnsEndpoint("http://127.0.0.1:4011/aws/?Action=ConfirmSubscription", local),
    false,
  );
  assert.equal(isSnsEndpoint("http://127.0.0.1:4010/?Action=ConfirmSubscription", local), false);
});

dbTest("webhooks ses: close the sandbox and the gateway", async () => {
  await harness.close();
});
