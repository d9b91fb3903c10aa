// POST /webhooks/ses: Amazon SES events as SNS delivers them to an HTTP(S) subscriber
// (VENDORS.md §2): a JSON body sent as text/plain, signed with RSA by the certificate at
// SigningCertURL, which must match SNS_SIGNING_CERT_URL_PATTERN (AWS's own hosts by default;
// the vendor sandbox's /aws prefix in tests). SubscriptionConfirmation is confirmed by a GET of
// SubscribeURL, only on a host the same rule allows. Only the topics in SNS_TOPIC_ARNS are taken
// (others: 403, nothing fetched or written); unset, nothing is (503), since SNS signs every AWS
// account's topics with the same certificates. Notification carries the SES event JSON in
// `Message`: configuration-set publishing (`eventType`) or identity notifications
// (`notificationType`).
import { z } from "zod";
import { createRouter } from "../_shared/app.ts";
import { ProblemError } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import { classifyVendorError } from "../_shared/providers/mod.ts";
import { createSnsVerifier, type SnsMessage } from "../_shared/signatures/sns.ts";
import {
  emailAddress,
  type EventStatus,
  isoTime,
  malformed,
  notConfigured,
  ourMessageId,
  signatureRefused,
  type VendorEvent,
  type WebhookDeps,
} from "./events.ts";

/**
 * How old an SNS message's signed Timestamp may be before it counts as stale: SNS gives up
 * retrying an HTTP(S) delivery within 3,600 s (a hard limit of its delivery policies, AWS SNS
 * guide "Amazon SNS message delivery retries"); one more hour covers throttled queues and
 * clocks. A captured message replayed later is refused with 401.
 */
export const snsMaxAgeSeconds = 7200;
/** How far in the future an SNS Timestamp may be (clock skew). */
export const snsMaxSkewSeconds = 300;

/** SES event types → our statuses; the rest (Transient bounces, Complaint, Click, ...) inform. */
const sesStatuses: Readonly<Record<string, EventStatus>> = {
  Send: "sent",
  Delivery: "delivered",
  Open: "read",
  Reject: "failed",
  "Rendering Failure": "failed",
};

const recipientsSchema = z.array(z.looseObject({ emailAddress: z.string().min(3).max(320) }));

/** The parts of an SES event we read (the rest is kept in the payload as it came). */
const sesEventSchema = z.looseObject({
  eventType: z.string().min(1).optional(),
  notificationType: z.string().min(1).optional(),
  mail: z.looseObject({
    messageId: z.string().min(1).max(200),
    timestamp: z.string().optional(),
    destination: z.array(z.string()).optional(),
    tags: z.record(z.string(), z.array(z.string())).optional(),
  }),
  bounce: z.looseObject({
    bounceType: z.string(),
    bounceSubType: z.string().optional(),
    bouncedRecipients: recipientsSchema,
    timestamp: z.string().optional(),
  }).optional(),
  complaint: z.looseObject({
    complainedRecipients: recipientsSchema,
    timestamp: z.string().optional(),
  }).optional(),
  delivery: z.looseObject({
    recipients: z.array(z.string()),
    timestamp: z.string().optional(),
  }).optional(),
  deliveryDelay: z.looseObject({
    delayedRecipients: recipientsSchema.optional(),
    timestamp: z.string().optional(),
  }).optional(),
  open: z.looseObject({ timestamp: z.string().optional() }).optional(),
  click: z.looseObject({ timestamp: z.string().optional() }).optional(),
  reject: z.looseObject({ reason: z.string().optional() }).optional(),
  failure: z.looseObject({ errorMessage: z.string().optional() }).optional(),
});

type SesEvent = z.infer<typeof sesEventSchema>;

/**
 * Whether `url` lies where SNS lives by the certificate rule `certUrlPattern`: a certificate
 * file in its own directory (same scheme, host, port and path) would be allowed. AWS's rule
 * admits `https://sns.<region>.amazonaws.com/?Action=ConfirmSubscription…`; the sandbox's
 * admits its `/aws/?Action=…`; any other host is refused before anything is fetched.
 */
export function isSnsEndpoint(url: string, certUrlPattern: RegExp): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password) return false;
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return false;
  const pattern = new RegExp(certUrlPattern.source, certUrlPattern.flags.replace(/[gy]/g, ""));
  const directory = parsed.pathname.replace(/[^/]*$/, "");
  return pattern.test(`${parsed.origin}${directory}SimpleNotificationService-check.pem`);
}

/** The topic ARNs of SNS_TOPIC_ARNS (comma-separated; blanks ignored), none when unset. */
export function snsTopicArns(allowed: string | undefined): string[] {
  return (allowed ?? "").split(",").map((arn) => arn.trim()).filter(Boolean);
}

/**
 * Whether a verified message's topic may post here: one of SNS_TOPIC_ARNS, and none when it is
 * unset or lists nothing. SNS signs every topic's messages with the same certificates, so
 * without the list any AWS account could subscribe this endpoint to a topic of its own and post
 * Delivery or Complaint events for our messages (AWS SNS guide "Verifying the signatures":
 * check TopicArn too). The project knows no AWS account id of its own to take that account's
 * topics instead: the list is the only rule.
 */
export function snsTopicAllowed(topicArn: string, allowed: string | undefined): boolean {
  return snsTopicArns(allowed).includes(topicArn);
}

/** Whether a verified SNS message's signed Timestamp is within the accepted window of `now`. */
export function snsMessageIsFresh(message: SnsMessage, now = new Date()): boolean {
  const at = Date.parse(message.Timestamp);
  if (Number.isNaN(at)) return false;
  const age = (now.getTime() - at) / 1000;
  return age <= snsMaxAgeSeconds && age >= -snsMaxSkewSeconds;
}

/** Who an SES event is about, with the event's own time. */
function recipientsOf(type: string, event: SesEvent): { recipients: string[]; at?: string } {
  if (type === "Bounce" && event.bounce) {
    return {
      recipients: event.bounce.bouncedRecipients.map((r) => r.emailAddress),
      at: event.bounce.timestamp,
    };
  }
  if (type === "Complaint" && event.complaint) {
    return {
      recipients: event.complaint.complainedRecipients.map((r) => r.emailAddress),
      at: event.complaint.timestamp,
    };
  }
  if (type === "Delivery" && event.delivery) {
    return { recipients: event.delivery.recipients, at: event.delivery.timestamp };
  }
  if (type === "DeliveryDelay" && event.deliveryDelay) {
    return {
      recipients: (event.deliveryDelay.delayedRecipients ?? []).map((r) => r.emailAddress),
      at: event.deliveryDelay.timestamp,
    };
  }
  const at = type === "Open"
    ? event.open?.timestamp
    : type === "Click"
    ? event.click?.timestamp
    : event.mail.timestamp;
  return { recipients: [], at };
}

/**
 * The events of one verified SNS Notification carrying an SES event: Send → sent, Delivery →
 * delivered, Open → read, Reject and Rendering Failure → failed; a Permanent bounce →
 * undeliverable and each bounced address suppressed (hard_bounce, through SES's error table:
 * Bounce.Permanent is a dead address); Transient / Undetermined bounces only inform; a Complaint
 * suppresses each complaining address (complaint). The event key is the SNS MessageId, with
 * `:recipient` added when the notification names several recipients (one event each). Our id
 * is mail.tags.message_id[0] when present. Throws the 400 problem for a Message that is not an
 * SES event.
 */
export function sesEvents(message: SnsMessage): VendorEvent[] {
  let json: unknown;
  try {
    json = JSON.parse(message.Message);
  } catch {
    throw malformed("The SNS Message is not JSON.");
  }
  if (
    typeof json === "object" && json !== null &&
    (json as Record<string, unknown>).notificationType === "AmazonSnsSubscriptionSucceeded"
  ) {
    // SES's test notification when a topic is attached to an identity.
    return [{
      event_key: message.MessageId,
      kind: "subscription",
      status: null,
      vendor_status: "AmazonSnsSubscriptionSucceeded",
      occurred_at: isoTime(message.Timestamp),
      payload: json,
    }];
  }
  const parsed = sesEventSchema.safeParse(json);
  const type = parsed.success ? parsed.data.eventType ?? parsed.data.notificationType : undefined;
  if (!parsed.success || !type) throw malformed("The SNS Message is not an SES event.");
  const event = parsed.data;
  const base = {
    kind: "status" as const,
    message_id: ourMessageId(event.mail.tags?.message_id?.[0]),
    provider_message_id: event.mail.messageId,
    payload: json,
  };
  const { recipients, at } = recipientsOf(type, event);
  const occurredAt = isoTime(at) ?? isoTime(message.Timestamp);
  const several = recipients.length > 1;
  const keyFor = (recipient?: string) =>
    several && recipient !== undefined ? `${message.MessageId}:${recipient}` : message.MessageId;

  if (type === "Bounce" && event.bounce) {
    const bounceType = event.bounce.bounceType;
    const failure = classifyVendorError("aws_ses", `Bounce.${bounceType}`);
    const permanent = bounceType === "Permanent";
    return event.bounce.bouncedRecipients.map((recipient) => ({
      ...base,
      event_key: keyFor(recipient.emailAddress),
      status: permanent ? "undeliverable" : null,
      vendor_status: `Bounce.${bounceType}`,
      error_code: [`Bounce.${bounceType}`, event.bounce!.bounceSubType].filter(Boolean).join("."),
      error: typeof recipient.diagnosticCode === "string"
        ? recipient.diagnosticCode.slice(0, 500)
        : failure.message,
      occurred_at: occurredAt,
      ...(failure.addressDead
        ? { suppress: "hard_bounce" as const, address: emailAddress(recipient.emailAddress) }
        : {}),
      channel: "email" as const,
    }));
  }
  if (type === "Complaint" && event.complaint) {
    return event.complaint.complainedRecipients.map((recipient) => ({
      ...base,
      event_key: keyFor(recipient.emailAddress),
      status: null,
      vendor_status: "Complaint",
      occurred_at: occurredAt,
      suppress: "complaint" as const,
      address: emailAddress(recipient.emailAddress),
      channel: "email" as const,
    }));
  }
  const status = sesStatuses[type] ?? null;
  const error = type === "Reject"
    ? event.reject?.reason ?? "rejected"
    : type === "Rendering Failure"
    ? event.failure?.errorMessage ?? "rendering failure"
    : null;
  const one = (recipient?: string): VendorEvent => ({
    ...base,
    event_key: keyFor(recipient),
    status,
    vendor_status: type,
    occurred_at: occurredAt,
    ...(error ? { error_code: type, error } : {}),
  });
  return several ? recipients.map(one) : [one(recipients[0])];
}

/** The /ses route. */
export function sesRoutes(deps: WebhookDeps) {
  let verifier: ReturnType<typeof createSnsVerifier> | undefined;
  let verifierPattern: RegExp | undefined;
  return createRouter().post("/ses", async (c) => {
    const config = deps.config();
    // No topic list, no topic: nothing is verified, fetched or written until it is set.
    if (snsTopicArns(config.SNS_TOPIC_ARNS).length === 0) {
      log("warn", "webhook refused", { vendor: "aws_ses", reason: "SNS_TOPIC_ARNS is not set" });
      throw notConfigured("SES (SNS)", "SNS_TOPIC_ARNS to the topics of our SES events");
    }
    // One verifier (and certificate cache) per certificate rule.
    if (!verifier || verifierPattern !== config.snsCertUrlPattern) {
      verifierPattern = config.snsCertUrlPattern;
      verifier = createSnsVerifier({ certUrlPattern: verifierPattern });
    }
    const raw = await c.req.text();
    const verified = await verifier(raw);
    if (!verified.ok || !snsMessageIsFresh(verified.message)) {
      const reason = verified.ok ? "stale Timestamp" : verified.reason;
      log("warn", "webhook refused", { vendor: "aws_ses", reason });
      throw signatureRefused("SNS");
    }
    const message = verified.message;
    if (!snsTopicAllowed(message.TopicArn, config.SNS_TOPIC_ARNS)) {
      log("warn", "webhook refused", {
        vendor: "aws_ses",
        reason: "topic",
        topic: message.TopicArn,
      });
      throw new ProblemError(403, "Forbidden", "Messages of this SNS topic are not taken here.");
    }

    if (message.Type === "SubscriptionConfirmation") {
      const subscribeUrl = message.SubscribeURL!;
      if (!isSnsEndpoint(subscribeUrl, config.snsCertUrlPattern)) {
        throw malformed("The SubscribeURL is not on an allowed SNS host.");
      }
      const answer = await deps.fetch(subscribeUrl, {
        redirect: "error",
        signal: AbortSignal.timeout(5000),
      }).catch((error) => {
        log("warn", "SNS subscription not confirmed", { error });
        return null;
      });
      await answer?.body?.cancel();
      if (!answer || answer.status !== 200) {
        // SNS resends the confirmation; nothing is recorded until it succeeds.
        throw new ProblemError(
          503,
          "Service Unavailable",
          `Confirming the subscription failed${answer ? ` (${answer.status})` : ""}.`,
        );
      }
    }
    const events = message.Type === "Notification" ? sesEvents(message) : [{
      event_key: message.MessageId,
      kind: "subscription" as const,
      status: null,
      vendor_status: message.Type,
      occurred_at: isoTime(message.Timestamp),
      // The token and URLs are not kept: they are enough to (un)subscribe the endpoint.
      payload: {
        Type: message.Type,
        MessageId: message.MessageId,
        TopicArn: message.TopicArn,
        Timestamp: message.Timestamp,
        Message: message.Message,
      },
    }];
    await deps.record("aws_ses", events);
    return c.body(null, 200);
  });
}
