// The sandbox's AWS: SES v1 SendEmail and SNS Publish over awsQuery, called through the real
// SDKs (@aws-sdk/client-ses, @aws-sdk/client-sns) and with plain fetch, their SigV4 checks and
// XML errors (VENDORS.md §2, §9, §10); SES events delivered as signed SNS notifications,
// checked with the webhooks' own verifier.
import assert from "node:assert/strict";
import { SendEmailCommand, type SendEmailCommandInput, SESClient } from "@aws-sdk/client-ses";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  createSnsVerifier,
  snsCertUrlPatternUnder,
} from "../../functions/_shared/signatures/sns.ts";
import { type Sandbox, signAwsQuery, startSandbox } from "../../sandbox/mod.ts";
import { type Receiver, startReceiver } from "../../sandbox/receiver.ts";

const region = "ap-south-1";

async function withSandbox(fn: (sandbox: Sandbox, receiver: Receiver) => Promise<void>) {
  const receiver = await startReceiver();
  const sandbox = await startSandbox({ webhooks: { sesSns: `${receiver.url}/ses` } });
  try {
    await fn(sandbox, receiver);
  } finally {
    await sandbox.close();
    await receiver.close();
  }
}

function clients(
  sandbox: Sandbox,
  options: { maxAttempts?: number; secret?: string; key?: string } = {},
) {
  const config = {
    region,
    endpoint: `${sandbox.url}/aws`,
    credentials: {
      accessKeyId: options.key ?? sandbox.credentials.awsAccessKeyId,
      secretAccessKey: options.secret ?? sandbox.credentials.awsSecretAccessKey,
    },
    maxAttempts: options.maxAttempts ?? 3,
  };
  return { ses: new SESClient(config), sns: new SNSClient(config) };
}

function email(overrides: Partial<SendEmailCommandInput> = {}): SendEmailCommandInput {
  return {
    Source: "Py360 Renewals <renewals@py360.test>",
    Destination: { ToAddresses: ["success@simulator.amazonaws.com"] },
    Message: {
      Subject: { Data: "Your renewal is due" },
      Body: { Text: { Data: "Pay by 12 Dec." }, Html: { Data: "<p>Pay by 12 Dec.</p>" } },
    },
    ConfigurationSetName: "py360-events",
    Tags: [{ Name: "message_id", Value: "0b7e2c4a-9d1f-4f63-8a55-3c2d1e0f9a87" }],
    ...overrides,
  };
}

async function control(sandbox: Sandbox, path: string, body: unknown) {
  const response = await fetch(`${sandbox.url}/_control/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

async function inspect(sandbox: Sandbox, code: string, what: string) {
  return (await fetch(`${sandbox.url}/_inspect/${code}/${what}`)).json();
}

/** Calls the endpoint with plain fetch, signed by the sandbox's own SigV4 helper. */
async function rawCall(
  sandbox: Sandbox,
  params: Record<string, string>,
  service: "ses" | "sns",
  headers?: Record<string, string>,
) {
  const body = new URLSearchParams(params).toString();
  const signed = await signAwsQuery({
    url: `${sandbox.url}/aws/`,
    body,
    region,
    service,
    accessKeyId: sandbox.credentials.awsAccessKeyId,
    secretAccessKey: sandbox.credentials.awsSecretAccessKey,
  });
  const response = await fetch(`${sandbox.url}/aws/`, {
    method: "POST",
    headers: headers ?? signed,
    body,
  });
  return { status: response.status, text: await response.text() };
}

/** The SES event JSON carried by each SNS notification the receiver got. */
function events(receiver: Receiver) {
  return receiver.received.map((r) => JSON.parse(JSON.parse(r.body).Message));
}

Deno.test("sandbox aws: client-ses SendEmail gets an SES MessageId and is listed with its tag", async () => {
  await withSandbox(async (sandbox) => {
    const { ses } = clients(sandbox);
    const out = await ses.send(new SendEmailCommand(email()));
    assert.match(
      out.MessageId!,
      /^0100[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-000000$/,
    );
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.match(out.$metadata.requestId!, /^[0-9a-f-]{36}$/);
    const [listed] = await inspect(sandbox, "aws_ses", "requests");
    assert.equal(listed.id, out.MessageId);
    assert.equal(listed.to, "success@simulator.amazonaws.com");
    assert.equal(listed.subject, "Your renewal is due");
    assert.equal(listed.ourId, "0b7e2c4a-9d1f-4f63-8a55-3c2d1e0f9a87");
    assert.equal(listed.params.ConfigurationSetName, "py360-events");
  });
});

Deno.test("sandbox aws: client-sns Publish keeps the DLT message attributes for inspection", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const { sns } = clients(sandbox);
    const out = await sns.send(
      new PublishCommand({
        PhoneNumber: "+919810150461",
        Message: "Your policy renewal is due on 12 Dec.",
        MessageAttributes: {
          "AWS.SNS.SMS.SMSType": { DataType: "String", StringValue: "Transactional" },
          "AWS.SNS.SMS.SenderID": { DataType: "String", StringValue: "PYRNWL" },
          "AWS.MM.SMS.EntityId": { DataType: "String", StringValue: "1101456789012345678" },
          "AWS.MM.SMS.TemplateId": { DataType: "String", StringValue: "1107161234567890123" },
        },
      }),
    );
    assert.match(out.MessageId!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const [listed] = await inspect(sandbox, "aws_sns", "requests");
    assert.equal(listed.id, out.MessageId);
    assert.equal(listed.to, "+919810150461");
    assert.equal(listed.template, "1107161234567890123");
    assert.deepEqual(listed.params.messageAttributes["AWS.MM.SMS.EntityId"], {
      DataType: "String",
      StringValue: "1101456789012345678",
    });
    assert.equal(
      listed.params.messageAttributes["AWS.MM.SMS.TemplateId"].StringValue,
      "1107161234567890123",
    );
    // SNS SMS has no delivery webhook.
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, 0);
    assert.equal((await inspect(sandbox, "aws_sns", "callbacks")).length, 0);
  });
});

Deno.test("sandbox aws: the SDKs see MessageRejected, InvalidParameter and Throttling as AWS errors", async () => {
  await withSandbox(async (sandbox) => {
    const { ses, sns } = clients(sandbox, { maxAttempts: 1 });
    await control(sandbox, "aws_ses", { failNext: { code: "MessageRejected" } });
    await assert.rejects(ses.send(new SendEmailCommand(email())), (
      error: Error & {
        $metadata: { httpStatusCode: number };
        $fault: string;
      },
    ) => {
      assert.equal(error.name, "MessageRejected");
      assert.match(error.message, /^Email address is not verified/);
      assert.equal(error.$metadata.httpStatusCode, 400);
      assert.equal(error.$fault, "client");
      return true;
    });
    await assert.rejects(
      sns.send(new PublishCommand({ PhoneNumber: "9810150461", Message: "x" })),
      (error: Error) =>
        error.name === "InvalidParameterException" && /PhoneNumber/.test(error.message),
    );
    await assert.rejects(
      sns.send(
        new PublishCommand({
          PhoneNumber: "+919810150461",
          Message: "x",
          MessageAttributes: { "AWS.SNS.SMS.SenderID": { DataType: "String", StringValue: "12" } },
        }),
      ),
      (error: Error) => error.name === "InvalidParameterException",
    );
    await control(sandbox, "aws_ses", { rateLimitPerSecond: 1 });
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => ses.send(new SendEmailCommand(email()))),
    );
    const throttled = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    assert.ok(throttled.length >= 4, `throttled ${throttled.length}`);
    assert.equal(throttled[0].reason.name, "Throttling");
    assert.equal(throttled[0].reason.message, "Maximum sending rate exceeded.");
    assert.equal(throttled[0].reason.$metadata.httpStatusCode, 400);
    // SNS throttles with Throttled and HTTP 429 (client-sns: ThrottledException).
    await control(sandbox, "aws_sns", { rateLimitPerSecond: 1 });
    const published = await Promise.allSettled(
      Array.from(
        { length: 6 },
        () => sns.send(new PublishCommand({ PhoneNumber: "+919810150461", Message: "x" })),
      ),
    );
    const refused = published.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    assert.ok(refused.length >= 4, `refused ${refused.length}`);
    assert.equal(refused[0].reason.name, "ThrottledException");
    assert.equal(refused[0].reason.$metadata.httpStatusCode, 429);
  });
});

Deno.test("sandbox aws: the SDK's own retry takes a single Throttled and then succeeds", async () => {
  await withSandbox(async (sandbox) => {
    const { sns } = clients(sandbox);
    await control(sandbox, "aws_sns", { failNext: { code: "Throttled" } });
    const out = await sns.send(new PublishCommand({ PhoneNumber: "+919810150461", Message: "x" }));
    assert.equal(out.$metadata.attempts, 2);
    assert.equal((await inspect(sandbox, "aws_sns", "requests")).length, 1);
  });
});

Deno.test("sandbox aws: SigV4 is checked: key, secret, scope service and the header's shape", async () => {
  await withSandbox(async (sandbox) => {
    await assert.rejects(
      clients(sandbox, { secret: "not-the-secret", maxAttempts: 1 }).ses.send(
        new SendEmailCommand(email()),
      ),
      (error: Error & { $metadata: { httpStatusCode: number } }) =>
        error.name === "SignatureDoesNotMatch" && error.$metadata.httpStatusCode === 403,
    );
    await assert.rejects(
      clients(sandbox, { key: "AKIAI44QH8DHBEXAMPLE", maxAttempts: 1 }).sns.send(
        new PublishCommand({ PhoneNumber: "+919810150461", Message: "x" }),
      ),
      (error: Error) => error.name === "InvalidClientTokenId",
    );
    const sendEmail = {
      Action: "SendEmail",
      Version: "2010-12-01",
      Source: "renewals@py360.test",
      "Destination.ToAddresses.member.1": "success@simulator.amazonaws.com",
      "Message.Subject.Data": "s",
      "Message.Body.Text.Data": "b",
    };
    const wrongScope = await rawCall(sandbox, sendEmail, "sns");
    assert.equal(wrongScope.status, 403);
    assert.match(
      wrongScope.text,
      /<ErrorResponse xmlns="http:\/\/ses\.amazonaws\.com\/doc\/2010-12-01\/"><Error><Type>Sender<\/Type><Code>SignatureDoesNotMatch<\/Code><Message>Credential should be scoped to correct service: 'ses'\. <\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>/,
    );
    const missing = await rawCall(sandbox, sendEmail, "ses", {
      "content-type": "application/x-www-form-urlencoded",
    });
    assert.equal(missing.status, 403);
    assert.match(missing.text, /<Code>MissingAuthenticationToken<\/Code>/);
    const malformed = await rawCall(sandbox, sendEmail, "ses", {
      "content-type": "application/x-www-form-urlencoded",
      authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE",
      "x-amz-date": "20260101T000000Z",
    });
    assert.equal(malformed.status, 400);
    assert.match(malformed.text, /<Code>IncompleteSignature<\/Code>/);
    const ok = await rawCall(sandbox, sendEmail, "ses");
    assert.equal(ok.status, 200);
    assert.match(
      ok.text,
      /<SendEmailResponse xmlns="http:\/\/ses\.amazonaws\.com\/doc\/2010-12-01\/"><SendEmailResult><MessageId>0100[0-9a-f]{12}-[0-9a-f-]{36}-000000<\/MessageId><\/SendEmailResult><ResponseMetadata><RequestId>/,
    );
    const unknown = await rawCall(sandbox, { Action: "SendTemplatedEmail" }, "ses");
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /<Code>InvalidAction<\/Code>/);
  });
});

Deno.test("sandbox aws: SES events reach the webhook as signed SNS notifications carrying mail.tags", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const { ses } = clients(sandbox);
    const out = await ses.send(new SendEmailCommand(email()));
    await sandbox.callbacksSettled();
    const verify = createSnsVerifier({
      certUrlPattern: snsCertUrlPatternUnder(`${sandbox.url}/aws`),
    });
    assert.equal(receiver.received.length, 2);
    for (const request of receiver.received) {
      assert.equal(request.headers.get("content-type"), "text/plain; charset=UTF-8");
      assert.equal(request.headers.get("x-amz-sns-message-type"), "Notification");
      const body = JSON.parse(request.body);
      assert.equal(request.headers.get("x-amz-sns-message-id"), body.MessageId);
      assert.equal(request.headers.get("x-amz-sns-topic-arn"), body.TopicArn);
      assert.match(
        request.headers.get("x-amz-sns-subscription-arn")!,
        /^arn:aws:sns:ap-south-1:\d{12}:ses-events:/,
      );
      assert.equal(body.SignatureVersion, "1");
      assert.equal(body.SigningCertURL, sandbox.snsSigningCertUrl);
      assert.match(body.Timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const verified = await verify(request.body);
      assert.equal(verified.ok, true, JSON.stringify(verified));
      // An altered message no longer verifies.
      const altered = await verify(JSON.stringify({ ...body, Message: body.Message + " " }));
      assert.equal(altered.ok, false);
    }
    const [send, delivery] = events(receiver);
    assert.equal(send.eventType, "Send");
    assert.equal(delivery.eventType, "Delivery");
    assert.equal(delivery.mail.messageId, out.MessageId);
    assert.deepEqual(delivery.mail.tags.message_id, ["0b7e2c4a-9d1f-4f63-8a55-3c2d1e0f9a87"]);
    assert.deepEqual(delivery.mail.tags["ses:configuration-set"], ["py360-events"]);
    assert.deepEqual(delivery.delivery.recipients, ["success@simulator.amazonaws.com"]);
    const cert = await fetch(sandbox.snsSigningCertUrl);
    assert.match(await cert.text(), /^-----BEGIN CERTIFICATE-----/);

    // SignatureVersion "2" (RSA-SHA256) on request.
    receiver.received.length = 0;
    await control(sandbox, "aws_ses", { snsSignatureVersion: "2" });
    await ses.send(new SendEmailCommand(email()));
    await sandbox.callbacksSettled();
    const second = JSON.parse(receiver.received[0].body);
    assert.equal(second.SignatureVersion, "2");
    assert.equal((await verify(receiver.received[0].body)).ok, true);
  });
});

Deno.test("sandbox aws: the mailbox simulator's bounce and complaint, and identity notifications without a configuration set", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const { ses } = clients(sandbox);
    await ses.send(
      new SendEmailCommand(
        email({ Destination: { ToAddresses: ["bounce@simulator.amazonaws.com"] } }),
      ),
    );
    await sandbox.callbacksSettled();
    const [, bounce] = events(receiver);
    assert.equal(bounce.eventType, "Bounce");
    assert.equal(bounce.bounce.bounceType, "Permanent");
    assert.equal(bounce.bounce.bounceSubType, "General");
    assert.equal(bounce.bounce.bouncedRecipients[0].emailAddress, "bounce@simulator.amazonaws.com");

    receiver.received.length = 0;
    await ses.send(
      new SendEmailCommand(
        email({ Destination: { ToAddresses: ["complaint@simulator.amazonaws.com"] } }),
      ),
    );
    await sandbox.callbacksSettled();
    assert.deepEqual(events(receiver).map((e) => e.eventType), ["Send", "Delivery", "Complaint"]);
    assert.equal(
      events(receiver)[2].complaint.complainedRecipients[0].emailAddress,
      "complaint@simulator.amazonaws.com",
    );

    receiver.received.length = 0;
    await ses.send(new SendEmailCommand(email({ ConfigurationSetName: undefined })));
    await sandbox.callbacksSettled();
    const identity = events(receiver);
    assert.deepEqual(identity.map((e) => e.notificationType), ["Delivery"]);
    assert.equal(identity[0].eventType, undefined);
    assert.equal(identity[0].mail.tags, undefined);

    receiver.received.length = 0;
    await control(sandbox, "aws_ses", { failNext: { code: "Bounce" } });
    const accepted = await ses.send(new SendEmailCommand(email()));
    await sandbox.callbacksSettled();
    const forced = events(receiver);
    assert.deepEqual(forced.map((e) => e.eventType), ["Send", "Bounce"]);
    assert.equal(forced[1].mail.messageId, accepted.MessageId);
  });
});

Deno.test("sandbox aws: duplicated SNS deliveries keep their x-amz-sns-message-id", async () => {
  await withSandbox(async (sandbox, receiver) => {
    await control(sandbox, "aws_ses", { callbacks: { mode: "duplicate" } });
    await clients(sandbox).ses.send(new SendEmailCommand(email()));
    await sandbox.callbacksSettled();
    const ids = receiver.received.map((r) => r.headers.get("x-amz-sns-message-id"));
    assert.equal(ids.length, 4);
    assert.equal(ids[0], ids[1]);
    assert.equal(ids[2], ids[3]);
    assert.notEqual(ids[0], ids[2]);
    assert.equal(receiver.received[0].body, receiver.received[1].body);
  });
});

Deno.test("sandbox aws: a SubscriptionConfirmation through the control API, confirmed at its SubscribeURL", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const answer = await control(sandbox, "aws_ses/subscription-confirmation", {});
    assert.equal(answer.status, 200);
    const [request] = receiver.received;
    assert.equal(request.headers.get("x-amz-sns-message-type"), "SubscriptionConfirmation");
    const body = JSON.parse(request.body);
    assert.equal(body.Type, "SubscriptionConfirmation");
    assert.equal(body.Token, answer.token);
    const verify = createSnsVerifier({
      certUrlPattern: snsCertUrlPatternUnder(`${sandbox.url}/aws`),
    });
    assert.equal((await verify(request.body)).ok, true);
    let [subscription] = await inspect(sandbox, "aws_ses", "subscriptions");
    assert.equal(subscription.confirmed, false);
    const confirmed = await fetch(body.SubscribeURL);
    assert.equal(confirmed.status, 200);
    assert.match(
      await confirmed.text(),
      /<SubscriptionArn>arn:aws:sns:ap-south-1:123456789012:ses-events:[0-9a-f-]{36}<\/SubscriptionArn>/,
    );
    [subscription] = await inspect(sandbox, "aws_ses", "subscriptions");
    assert.equal(subscription.confirmed, true);
    const wrong = await fetch(body.SubscribeURL.replace(/Token=[0-9a-f]+/, "Token=00"));
    assert.equal(wrong.status, 400);
    await wrong.body?.cancel();
  });
});

Deno.test("sandbox aws: an outage is a 503 ServiceUnavailable the SDK reports as a server fault", async () => {
  await withSandbox(async (sandbox) => {
    await control(sandbox, "aws_ses", { outage: true });
    await assert.rejects(
      clients(sandbox, { maxAttempts: 1 }).ses.send(new SendEmailCommand(email())),
      (error: Error & { $metadata: { httpStatusCode: number }; $fault: string }) =>
        error.name === "ServiceUnavailable" && error.$metadata.httpStatusCode === 503 &&
        error.$fault === "server",
    );
    // SNS is its own vendor: still up.
    const out = await clients(sandbox).sns.send(
      new PublishCommand({ PhoneNumber: "+919810150461", Message: "x" }),
    );
    assert.ok(out.MessageId);
  });
});
