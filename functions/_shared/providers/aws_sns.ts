// AWS SNS Publish to a phone number (SMS, the fallback behind Twilio): `@aws-sdk/client-sns`
// over the awsQuery protocol (VENDORS.md §9), with explicit region, static credentials and
// AWS_ENDPOINT_URL. India DLT: the message's entity and content-template ids go unchanged into
// AWS.MM.SMS.EntityId / AWS.MM.SMS.TemplateId, its header into AWS.SNS.SMS.SenderID (AWS SNS
// guide "Publishing SMS messages to a mobile phone"). SNS has no delivery webhook: a publish
// accepted is as far as we see.
import { type MessageAttributeValue, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { invalidMessage, invalidResponse } from "./classify.ts";
import { awsClientConfig, awsFailure, type AwsOptions } from "./aws.ts";
import { withDeadline } from "./http.ts";
import type { ErrorTable, OutboundMessage, Provider, SendResult } from "./types.ts";

/**
 * Every SNS error code VENDORS.md §9 documents (InvalidParameter, Throttling) and Publish's other
 * modelled errors in client-sns, by their awsQuery `<Code>` and, where the SDK names the
 * exception differently, by that name too, with their dispositions.
 */
export const snsErrors: ErrorTable = {
  InvalidParameter: {
    disposition: "permanent",
    reason: "a parameter is invalid",
    byMessage: [{
      pattern: /PhoneNumber/,
      rule: { disposition: "permanent", addressDead: true, reason: "invalid phone number" },
    }],
  },
  InvalidParameterException: {
    disposition: "permanent",
    reason: "a parameter is invalid",
    byMessage: [{
      pattern: /PhoneNumber/,
      rule: { disposition: "permanent", addressDead: true, reason: "invalid phone number" },
    }],
  },
  ParameterValueInvalid: { disposition: "permanent", reason: "a parameter value is invalid" },
  InvalidParameterValueException: {
    disposition: "permanent",
    reason: "a parameter value is invalid",
  },
  ValidationException: { disposition: "permanent", reason: "the request failed validation" },
  Throttling: { disposition: "transient", throttled: true, reason: "rate exceeded" },
  ThrottlingException: { disposition: "transient", throttled: true, reason: "rate exceeded" },
  Throttled: { disposition: "transient", throttled: true, reason: "rate exceeded" },
  ThrottledException: { disposition: "transient", throttled: true, reason: "rate exceeded" },
  KMSThrottling: { disposition: "transient", reason: "KMS throttled the request" },
  KMSThrottlingException: { disposition: "transient", reason: "KMS throttled the request" },
  InternalError: { disposition: "transient", reason: "SNS internal error" },
  InternalErrorException: { disposition: "transient", reason: "SNS internal error" },
  ServiceUnavailable: { disposition: "transient", reason: "service unavailable" },
  AuthorizationError: { disposition: "fallback", reason: "not authorised to publish" },
  AuthorizationErrorException: { disposition: "fallback", reason: "not authorised to publish" },
  InvalidClientTokenId: { disposition: "fallback", reason: "the access key is not valid" },
  SignatureDoesNotMatch: { disposition: "fallback", reason: "the request signature is wrong" },
  IncompleteSignature: { disposition: "fallback", reason: "the request signature is incomplete" },
  MissingAuthenticationToken: { disposition: "fallback", reason: "the request is not signed" },
  InvalidAction: { disposition: "fallback", reason: "the action is not valid for this endpoint" },
  InvalidSecurity: { disposition: "fallback", reason: "the request was not signed as required" },
  InvalidSecurityException: {
    disposition: "fallback",
    reason: "the request was not signed as required",
  },
  NotFound: { disposition: "fallback", reason: "the named SNS resource does not exist" },
  NotFoundException: { disposition: "fallback", reason: "the named SNS resource does not exist" },
  OptedOut: {
    disposition: "permanent",
    addressDead: true,
    reason: "the phone number opted out of SMS from this account",
  },
  EndpointDisabled: { disposition: "permanent", reason: "the endpoint is disabled" },
  EndpointDisabledException: { disposition: "permanent", reason: "the endpoint is disabled" },
};

/** A valid AWS.SNS.SMS.SenderID: 3-11 alphanumerics with at least one letter. */
const senderIdShape = /^(?=.*[A-Za-z])[A-Za-z0-9]{3,11}$/;

/** What the SNS provider needs: AWS settings and the default alphanumeric sender id. */
export interface SnsOptions extends AwsOptions {
  /** SMS_SENDER_ID; used only when it is a valid SenderID (a number there is skipped). */
  senderId?: string;
}

function text(value: string): MessageAttributeValue {
  return { DataType: "String", StringValue: value };
}

/**
 * The SNS message attributes for one SMS: type, sender id, the India DLT ids (unchanged), and our
 * message id as the String attribute `message_id` (SMS ignores it; it makes a send traceable).
 */
export function snsAttributes(
  message: OutboundMessage,
  defaultSenderId?: string,
): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {
    "AWS.SNS.SMS.SMSType": text(message.purpose === "marketing" ? "Promotional" : "Transactional"),
    message_id: text(message.id),
  };
  const senderId = message.dlt?.senderId ??
    (defaultSenderId && senderIdShape.test(defaultSenderId) ? defaultSenderId : undefined);
  if (senderId) attributes["AWS.SNS.SMS.SenderID"] = text(senderId);
  if (message.dlt) {
    attributes["AWS.MM.SMS.EntityId"] = text(message.dlt.entityId);
    attributes["AWS.MM.SMS.TemplateId"] = text(message.dlt.templateId);
  }
  return attributes;
}

/** The AWS SNS SMS provider; `send` classifies every failure through snsErrors. */
export function snsProvider(options: SnsOptions): Provider {
  const client = new SNSClient(awsClientConfig(options));

  async function send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (message.channel !== "sms") {
      return invalidMessage(`aws_sns sends sms, not ${message.channel}`);
    }
    if (!message.body) return invalidMessage("an SMS needs a body");
    const command = new PublishCommand({
      PhoneNumber: message.to,
      Message: message.body,
      MessageAttributes: snsAttributes(message, options.senderId),
    });
    return await withDeadline("aws_sns", options.timeoutMs, signal, async (deadline) => {
      try {
        const output = await client.send(command, { abortSignal: deadline });
        if (!output.MessageId) return invalidResponse("aws_sns", "");
        return { ok: true, providerMessageId: output.MessageId };
      } catch (error) {
        return awsFailure("aws_sns", snsErrors, error);
      }
    });
  }

  return { code: "aws_sns", channel: "sms", send };
}
