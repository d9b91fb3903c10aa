// The JSON of SES sending events, as SNS carries them in `Message` (VENDORS.md §2 "Events"):
// with a configuration set, event publishing (`eventType`: Send, Delivery, Bounce, Complaint,
// Open; `mail.tags` holds the configuration set's and the message's tags, each an array);
// without one, identity notifications (`notificationType`: Delivery, Bounce, Complaint; no tags).

/** What SES knew of a message when it accepted it. */
export interface SesMail {
  messageId: string;
  region: string;
  /** ISO-8601, when SES accepted it. */
  timestamp: string;
  source: string;
  destination: string[];
  subject: string;
  configurationSet?: string;
  /** The message's own tags (Tags.member.N). */
  tags: Record<string, string>;
}

/** The kinds of event the sandbox emits. */
export type SesEventType = "Send" | "Delivery" | "Bounce" | "Complaint" | "Open";

/** How a recipient's mail ends, from the mailbox simulator address or an injected failure. */
export interface SesOutcome {
  bounce?: { type: "Permanent" | "Transient"; subType: string; recipients: string[] };
  complaint?: string[];
}

const reportingMta = "a8-70.smtp-out.amazonses.com";

function domainOf(address: string): string {
  return address.replace(/^.*</, "").replace(/>.*$/, "").split("@")[1] ?? "";
}

function feedbackId(mail: SesMail): string {
  return `${mail.messageId.slice(0, 16)}-${crypto.randomUUID()}-000000`;
}

/** The `mail` object of an event. */
function mailObject(mail: SesMail, withTags: boolean): Record<string, unknown> {
  const object: Record<string, unknown> = {
    timestamp: mail.timestamp,
    source: mail.source,
    sourceArn: `arn:aws:ses:${mail.region}:123456789012:identity/${domainOf(mail.source)}`,
    sourceIp: "127.0.0.1",
    callerIdentity: "py360-sandbox",
    sendingAccountId: "123456789012",
    messageId: mail.messageId,
    destination: mail.destination,
    headersTruncated: false,
    headers: [
      { name: "From", value: mail.source },
      { name: "To", value: mail.destination.join(", ") },
      { name: "Subject", value: mail.subject },
      { name: "MIME-Version", value: "1.0" },
      { name: "Content-Type", value: "multipart/alternative" },
    ],
    commonHeaders: {
      from: [mail.source],
      to: mail.destination,
      messageId: mail.messageId,
      subject: mail.subject,
    },
  };
  if (withTags) {
    const tags: Record<string, string[]> = {
      "ses:operation": ["SendEmail"],
      "ses:configuration-set": [mail.configurationSet ?? ""],
      "ses:source-ip": ["127.0.0.1"],
      "ses:from-domain": [domainOf(mail.source)],
      "ses:caller-identity": ["py360-sandbox"],
      "ses:outgoing-ip": ["198.51.100.25"],
    };
    for (const [name, value] of Object.entries(mail.tags)) tags[name] = [value];
    object.tags = tags;
  }
  return object;
}

/** The event JSON (the SNS `Message` string) of one event of a message. */
export function sesEventJson(
  mail: SesMail,
  type: SesEventType,
  recipients: string[],
  outcome: SesOutcome,
): string {
  const publishing = mail.configurationSet !== undefined;
  const now = new Date().toISOString();
  const event: Record<string, unknown> = publishing
    ? { eventType: type, mail: mailObject(mail, true) }
    : { notificationType: type, mail: mailObject(mail, false) };
  if (type === "Send") event.send = {};
  if (type === "Delivery") {
    event.delivery = {
      timestamp: now,
      processingTimeMillis: Math.max(1, Date.now() - Date.parse(mail.timestamp)),
      recipients,
      smtpResponse: "250 2.6.0 Message received",
      remoteMtaIp: "203.0.113.25",
      reportingMTA: reportingMta,
    };
  }
  if (type === "Bounce" && outcome.bounce) {
    const permanent = outcome.bounce.type === "Permanent";
    event.bounce = {
      feedbackId: feedbackId(mail),
      bounceType: outcome.bounce.type,
      bounceSubType: outcome.bounce.subType,
      bouncedRecipients: recipients.map((emailAddress) => ({
        emailAddress,
        action: "failed",
        status: permanent ? "5.1.1" : "4.2.2",
        diagnosticCode: outcome.bounce!.subType === "OnAccountSuppressionList"
          ? "Amazon SES did not send the message to this address because it is on the " +
            "suppression list for your account."
          : permanent
          ? "smtp; 550 5.1.1 user unknown"
          : "smtp; 452 4.2.2 mailbox full",
      })),
      timestamp: now,
      reportingMTA: `dsn; ${reportingMta}`,
    };
  }
  if (type === "Complaint") {
    event.complaint = {
      feedbackId: feedbackId(mail),
      complaintSubType: null,
      complainedRecipients: recipients.map((emailAddress) => ({ emailAddress })),
      timestamp: now,
      userAgent: "Amazon SES Mailbox Simulator",
      complaintFeedbackType: "abuse",
      arrivalDate: now,
    };
  }
  if (type === "Open") {
    event.open = {
      timestamp: now,
      ipAddress: "192.0.2.1",
      userAgent: "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko)",
    };
  }
  return JSON.stringify(event);
}

/**
 * What happens to a recipient, from the SES mailbox simulator's addresses (bounce@, complaint@,
 * suppressionlist@, ooto@, success@ simulator.amazonaws.com): the local part decides, on any
 * domain, so test addresses like `bounce+42@example.test` work too.
 */
export function simulatedOutcome(address: string): "bounce" | "complaint" | "suppressed" | "ok" {
  const local = address.replace(/^.*</, "").split("@")[0].toLowerCase().split("+")[0];
  if (local === "bounce") return "bounce";
  if (local === "complaint") return "complaint";
  if (local === "suppressionlist") return "suppressed";
  return "ok";
}

/**
 * The events of a message in SES's order for a callback mode: Send (event publishing only),
 * then Delivery for the recipients that take it, Bounce for those that bounce, Complaint after
 * the Delivery of those that complain. `read_without_delivered` gives Send then Open.
 */
export function sesEventPlan(
  mail: SesMail,
  mode: string,
  forced?: "Bounce" | "Complaint",
): Array<{ type: SesEventType; recipients: string[]; outcome: SesOutcome }> {
  const publishing = mail.configurationSet !== undefined;
  const plan: Array<{ type: SesEventType; recipients: string[]; outcome: SesOutcome }> = [];
  if (publishing) plan.push({ type: "Send", recipients: mail.destination, outcome: {} });
  if (mode === "read_without_delivered") {
    if (publishing) plan.push({ type: "Open", recipients: mail.destination, outcome: {} });
    return plan;
  }
  const outcomes = mail.destination.map((address) => ({
    address,
    outcome: forced === "Bounce"
      ? "bounce"
      : forced === "Complaint"
      ? "complaint"
      : simulatedOutcome(address),
  }));
  const delivered = outcomes.filter((o) => o.outcome === "ok" || o.outcome === "complaint");
  if (delivered.length > 0) {
    plan.push({ type: "Delivery", recipients: delivered.map((o) => o.address), outcome: {} });
  }
  for (const kind of ["bounce", "suppressed"] as const) {
    const bounced = outcomes.filter((o) => o.outcome === kind).map((o) => o.address);
    if (bounced.length === 0) continue;
    plan.push({
      type: "Bounce",
      recipients: bounced,
      outcome: {
        bounce: {
          type: "Permanent",
          subType: kind === "bounce" ? "General" : "OnAccountSuppressionList",
          recipients: bounced,
        },
      },
    });
  }
  const complained = outcomes.filter((o) => o.outcome === "complaint").map((o) => o.address);
  if (complained.length > 0) {
    plan.push({ type: "Complaint", recipients: complained, outcome: { complaint: complained } });
  }
  return plan;
}
