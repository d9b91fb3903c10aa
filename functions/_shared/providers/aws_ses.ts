// AWS SES (email, primary): `@aws-sdk/client-ses`, SES API v1 SendEmail over the awsQuery
// protocol (VENDORS.md §2), with explicit region, static credentials and AWS_ENDPOINT_URL.
// Our message id travels as the message tag `message_id`, which SES copies into every event
// (`mail.tags.message_id`), so the webhook finds the row.
import { SendEmailCommand, SESClient } from "@aws-sdk/client-ses";
import { invalidMessage, invalidResponse } from "./classify.ts";
import { awsClientConfig, awsFailure, type AwsOptions } from "./aws.ts";
import { withDeadline } from "./http.ts";
import type { ErrorTable, OutboundMessage, Provider, SendResult } from "./types.ts";

const dailyQuota = /daily message quota/i;

/**
 * Every SES error code VENDORS.md §2 documents (v1 awsQuery codes, the v2 exception names and
 * the SDK's throttling names), SendEmail's other modelled exceptions in client-ses, the common
 * awsQuery errors, and the event outcomes the webhooks read (`Bounce.<bounceType>`,
 * `Bounce.<bounceSubType>`, `Complaint`, `Reject`), with their dispositions.
 */
export const sesErrors: ErrorTable = {
  MessageRejected: {
    disposition: "permanent",
    reason: "message rejected (unverified address in the sandbox, or content refused)",
  },
  Throttling: {
    disposition: "transient",
    throttled: true,
    reason: "maximum sending rate exceeded",
    byMessage: [{
      pattern: dailyQuota,
      rule: { disposition: "fallback", reason: "daily message quota exceeded" },
    }],
  },
  ThrottlingException: { disposition: "transient", throttled: true, reason: "throttled" },
  TooManyRequestsException: {
    disposition: "transient",
    throttled: true,
    reason: "too many requests",
  },
  LimitExceededException: {
    disposition: "transient",
    reason: "a sending limit was exceeded",
    byMessage: [{
      pattern: dailyQuota,
      rule: { disposition: "fallback", reason: "daily message quota exceeded" },
    }],
  },
  BadRequestException: { disposition: "permanent", reason: "the request is malformed" },
  InvalidParameterValue: {
    disposition: "permanent",
    reason: "a parameter is invalid",
    byMessage: [{
      pattern: /illegal address|missing final '@|local address contains|domain contains/i,
      rule: { disposition: "permanent", addressDead: true, reason: "invalid email address" },
    }],
  },
  InvalidParameter: { disposition: "permanent", reason: "a parameter is invalid" },
  MissingParameter: { disposition: "permanent", reason: "a required parameter is missing" },
  MailFromDomainNotVerifiedException: {
    disposition: "fallback",
    reason: "the MAIL FROM domain is not verified",
  },
  AccountSuspendedException: { disposition: "fallback", reason: "the SES account is suspended" },
  SendingPausedException: { disposition: "fallback", reason: "sending is paused" },
  AccountSendingPausedException: {
    disposition: "fallback",
    reason: "sending is paused for the account",
  },
  ConfigurationSetSendingPausedException: {
    disposition: "fallback",
    reason: "sending is paused for the configuration set",
  },
  ConfigurationSetDoesNotExistException: {
    disposition: "fallback",
    reason: "the configuration set does not exist",
  },
  ConfigurationSetDoesNotExist: {
    disposition: "fallback",
    reason: "the configuration set does not exist",
  },
  NotFoundException: { disposition: "fallback", reason: "a named SES resource does not exist" },
  InvalidClientTokenId: { disposition: "fallback", reason: "the access key is not valid" },
  SignatureDoesNotMatch: { disposition: "fallback", reason: "the request signature is wrong" },
  IncompleteSignature: { disposition: "fallback", reason: "the request signature is incomplete" },
  MissingAuthenticationToken: { disposition: "fallback", reason: "the request is not signed" },
  InvalidAction: { disposition: "fallback", reason: "the action is not valid for this endpoint" },
  AccessDenied: { disposition: "fallback", reason: "not allowed to send" },
  AccessDeniedException: { disposition: "fallback", reason: "not allowed to send" },
  ServiceUnavailable: { disposition: "transient", reason: "service unavailable" },
  InternalFailure: { disposition: "transient", reason: "internal failure" },
  "Bounce.Permanent": {
    disposition: "permanent",
    addressDead: true,
    reason: "hard bounce: the mailbox does not exist or never accepts mail",
  },
  "Bounce.Transient": {
    disposition: "transient",
    reason: "soft bounce (mailbox full, message too large, temporary failure)",
  },
  "Bounce.Undetermined": {
    disposition: "transient",
    reason: "bounce of undetermined type",
  },
  "Bounce.Suppressed": {
    disposition: "permanent",
    addressDead: true,
    reason: "the address is on SES's global suppression list",
  },
  "Bounce.OnAccountSuppressionList": {
    disposition: "permanent",
    addressDead: true,
    reason: "the address is on the account's suppression list",
  },
  Complaint: {
    disposition: "permanent",
    addressDead: true,
    reason: "the recipient marked the email as spam",
  },
  Reject: { disposition: "permanent", reason: "SES rejected the message (virus detected)" },
};

/** What the SES provider needs: AWS settings, the verified sender, an optional config set. */
export interface SesOptions extends AwsOptions {
  from: string;
  configurationSet?: string;
}

/** The AWS SES email provider; `send` classifies every failure through sesErrors. */
export function sesProvider(options: SesOptions): Provider {
  const client = new SESClient(awsClientConfig(options));

  async function send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (message.channel !== "email") {
      return invalidMessage(`aws_ses sends email, not ${message.channel}`);
    }
    if (!message.subject || (!message.body && !message.html)) {
      return invalidMessage("an email needs a subject and a text or HTML body");
    }
    const command = new SendEmailCommand({
      Source: options.from,
      Destination: { ToAddresses: [message.to] },
      Message: {
        Subject: { Data: message.subject, Charset: "UTF-8" },
        Body: {
          ...(message.body ? { Text: { Data: message.body, Charset: "UTF-8" } } : {}),
          ...(message.html ? { Html: { Data: message.html, Charset: "UTF-8" } } : {}),
        },
      },
      Tags: [{ Name: "message_id", Value: message.id }],
      ...(options.configurationSet ? { ConfigurationSetName: options.configurationSet } : {}),
    });
    return await withDeadline("aws_ses", options.timeoutMs, signal, async (deadline) => {
      try {
        const output = await client.send(command, { abortSignal: deadline });
        if (!output.MessageId) return invalidResponse("aws_ses", "");
        return { ok: true, providerMessageId: output.MessageId };
      } catch (error) {
        return awsFailure("aws_ses", sesErrors, error);
      }
    });
  }

  return { code: "aws_ses", channel: "email", send };
}
