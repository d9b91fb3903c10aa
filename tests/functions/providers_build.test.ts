// Which providers the configuration builds, and the request parts each provider derives from a
// message (status callback, SNS attributes, Graph and SendGrid bodies) before any vendor call.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { snsAttributes } from "../../functions/_shared/providers/aws_sns.ts";
import { buildProviders } from "../../functions/_shared/providers/mod.ts";
import { sendgridBody } from "../../functions/_shared/providers/sendgrid.ts";
import { twilioProvider, twilioStatusCallback } from "../../functions/_shared/providers/twilio.ts";
import type { OutboundMessage } from "../../functions/_shared/providers/types.ts";
import { whatsappBody } from "../../functions/_shared/providers/whatsapp_cloud.ts";

const base = { FUNCTIONS_DB_URL: "postgresql://api_authenticator:pw@127.0.0.1:54322/postgres" };
const id = "5f0c6f43-2c55-4d41-9d3b-8f1f0b7f7a11";
const dlt = {
  entityId: "1101456780000012345",
  templateId: "1107161234567890123",
  senderId: "PYTHRE",
};

Deno.test("providers build: none without credentials, all five with them", () => {
  assert.deepEqual(Object.keys(buildProviders(parseConfig(base))), []);
  const providers = buildProviders(parseConfig({
    ...base,
    TWILIO_ACCOUNT_SID: "AC00000000000000000000000000000000",
    TWILIO_AUTH_TOKEN: "token",
    AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "secret",
    SES_FROM_EMAIL: "noreply@py360.test",
    SENDGRID_API_KEY: "SG.key",
    SENDGRID_FROM_EMAIL: "noreply@py360.test",
    WHATSAPP_ACCESS_TOKEN: "EAAG",
    WHATSAPP_PHONE_NUMBER_ID: "106540352242922",
  }));
  assert.deepEqual(
    Object.entries(providers).map(([code, provider]) => [code, provider!.code, provider!.channel])
      .sort(),
    [
      ["aws_ses", "aws_ses", "email"],
      ["aws_sns", "aws_sns", "sms"],
      ["sendgrid", "sendgrid", "email"],
      ["twilio", "twilio", "sms"],
      ["whatsapp_cloud", "whatsapp_cloud", "whatsapp"],
    ],
  );
});

Deno.test("providers build: a vendor missing part of its settings is left out", () => {
  const providers = buildProviders(parseConfig({
    ...base,
    AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "secret",
    SENDGRID_API_KEY: "SG.key",
  }));
  // SNS needs only the keys; SES and SendGrid need their sender.
  assert.deepEqual(Object.keys(providers).sort(), ["aws_sns"]);
});

Deno.test("providers build: Twilio's status callback carries our message id", () => {
  assert.equal(
    twilioStatusCallback("https://abcd.supabase.co/functions/v1/webhooks/twilio", id),
    `https://abcd.supabase.co/functions/v1/webhooks/twilio?message_id=${id}`,
  );
  // A base with its own query keeps it; an id already there is replaced, not repeated.
  assert.equal(
    twilioStatusCallback("http://127.0.0.1:9/webhooks/twilio?env=test&message_id=old", id),
    `http://127.0.0.1:9/webhooks/twilio?env=test&message_id=${id}`,
  );
});

Deno.test("providers build: SNS gets the DLT ids unchanged and the SMS type by purpose", () => {
  const sms: OutboundMessage = { id, channel: "sms", to: "+919810150461", body: "hi", dlt };
  const attributes = snsAttributes(sms, "PY360");
  assert.deepEqual(attributes, {
    "AWS.SNS.SMS.SMSType": { DataType: "String", StringValue: "Transactional" },
    "AWS.SNS.SMS.SenderID": { DataType: "String", StringValue: "PYTHRE" },
    "AWS.MM.SMS.EntityId": { DataType: "String", StringValue: dlt.entityId },
    "AWS.MM.SMS.TemplateId": { DataType: "String", StringValue: dlt.templateId },
    message_id: { DataType: "String", StringValue: id },
  });
  const marketing = snsAttributes({ ...sms, dlt: undefined, purpose: "marketing" }, "PY360");
  assert.equal(marketing["AWS.SNS.SMS.SMSType"].StringValue, "Promotional");
  assert.equal(marketing["AWS.SNS.SMS.SenderID"].StringValue, "PY360");
  assert.equal(marketing["AWS.MM.SMS.EntityId"], undefined);
  // A phone number is a Twilio From, not an SNS SenderID: it is left out.
  assert.equal(
    snsAttributes({ ...sms, dlt: undefined }, "+15005550006")["AWS.SNS.SMS.SenderID"],
    undefined,
  );
});

Deno.test("providers build: the Graph body by kind, with our id as callback data", () => {
  const message: OutboundMessage = { id, channel: "whatsapp", to: "+91 98101 50461", body: "hi" };
  assert.deepEqual(whatsappBody(message), {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    to: "919810150461",
    biz_opaque_callback_data: id,
    type: "text",
    text: { body: "hi", preview_url: false },
  });
  const template = {
    name: "renewal_reminder",
    language: "hi",
    components: [{ type: "body", parameters: [{ type: "text", text: "Asha" }] }],
  };
  const document = { link: "https://files.py360.test/p.pdf", filename: "policy.pdf" };
  // A template wins over a document, which wins over text.
  const withTemplate = whatsappBody({ ...message, whatsapp: { template, document } });
  assert.equal(withTemplate?.type, "template");
  assert.deepEqual(withTemplate?.template, {
    name: "renewal_reminder",
    language: { code: "hi" },
    components: template.components,
  });
  const withDocument = whatsappBody({ ...message, whatsapp: { document, text: "x" } });
  assert.equal(withDocument?.type, "document");
  assert.deepEqual(withDocument?.document, document);
  assert.equal(whatsappBody({ ...message, body: undefined }), undefined);
});

Deno.test("providers build: SendGrid's body puts text before HTML and our id in custom_args", () => {
  const body = sendgridBody(
    {
      id,
      channel: "email",
      to: "asha@py360.test",
      subject: "Renewal",
      html: "<p>x</p>",
      body: "x",
    },
    "noreply@py360.test",
  );
  assert.deepEqual(body, {
    personalizations: [{ to: [{ email: "asha@py360.test" }] }],
    from: { email: "noreply@py360.test" },
    subject: "Renewal",
    content: [{ type: "text/plain", value: "x" }, { type: "text/html", value: "<p>x</p>" }],
    custom_args: { message_id: id },
  });
});

Deno.test("providers build: a message a provider cannot carry fails without a vendor call", async () => {
  let calls = 0;
  const countingFetch: typeof fetch = () => {
    calls++;
    return Promise.reject(new Error("no vendor call expected"));
  };
  const twilio = twilioProvider({
    accountSid: "AC00000000000000000000000000000000",
    authToken: "token",
    baseUrl: "http://127.0.0.1:9/twilio",
    statusCallbackUrl: "http://127.0.0.1:9/webhooks/twilio",
    timeoutMs: 1_000,
    fetch: countingFetch,
  });
  const email = await twilio.send({ id, channel: "email", to: "a@py360.test", body: "x" });
  assert.ok(!email.ok);
  assert.deepEqual([email.disposition, email.code], ["permanent", "invalid_message"]);
  const noBody = await twilio.send({ id, channel: "sms", to: "+919810150461" });
  assert.ok(!noBody.ok);
  assert.equal(noBody.code, "invalid_message");
  // No sender configured and none in the message's DLT: another SMS provider may have one.
  const noSender = await twilio.send({ id, channel: "sms", to: "+919810150461", body: "x" });
  assert.ok(!noSender.ok);
  assert.deepEqual([noSender.disposition, noSender.code], ["fallback", "no_sender"]);
  assert.equal(calls, 0);
});
