// AWS SES v1 (SendEmail) and SNS (Publish, SMS) over the awsQuery protocol, as the sandbox plays
// them (VENDORS.md §2 and §9): POST /aws/ form-encoded, told apart by Action and by the SigV4
// credential scope's service; the Authorization header parsed, its access key and scope checked
// and its signature recomputed; XML results and XML ErrorResponse (Throttling with 400,
// MessageRejected, InvalidParameter…). SES events go to webhooks.sesSns as SNS notifications;
// SNS SMS has no delivery callback, as in reality.

import { field, isE164, parseForm, xml, xmlEscape } from "./http.ts";
import { awsRequestId, sesMessageId } from "./ids.ts";
import { computeSignature, parseAuthorization } from "./sigv4.ts";
import { sesEventJson, sesEventPlan, type SesMail } from "./ses_events.ts";
import { sesEventsTopicArn, snsError, SnsHttp } from "./sns_http.ts";
import { sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

type Service = "ses" | "sns";

/** Error codes the sandbox knows per service: HTTP status and message. */
const knownErrors: Record<Service, Record<string, { status: number; message: string }>> = {
  ses: {
    MessageRejected: {
      status: 400,
      message: "Email address is not verified. The following identities failed the check in " +
        "region AP-SOUTH-1: ",
    },
    Throttling: { status: 400, message: "Maximum sending rate exceeded." },
    MailFromDomainNotVerifiedException: {
      status: 400,
      message: "The MAIL FROM domain is not verified.",
    },
    ConfigurationSetDoesNotExist: { status: 400, message: "Configuration set does not exist." },
    AccountSendingPausedException: {
      status: 400,
      message: "Email sending is disabled for your entire Amazon SES account.",
    },
    InvalidParameterValue: { status: 400, message: "Illegal address" },
    InternalFailure: { status: 500, message: "An internal error occurred." },
    ServiceUnavailable: { status: 503, message: "Service is unavailable. Please try again later." },
  },
  // The codes and statuses client-sns models (its awsQueryError table), plus the generic 503.
  sns: {
    InvalidParameter: { status: 400, message: "Invalid parameter" },
    ParameterValueInvalid: { status: 400, message: "Invalid parameter value" },
    Throttled: { status: 429, message: "Rate exceeded" },
    Throttling: { status: 400, message: "Rate exceeded" },
    AuthorizationError: { status: 403, message: "User is not authorized to perform: SNS:Publish" },
    OptedOut: { status: 400, message: "Phone number is opted out" },
    EndpointDisabled: { status: 400, message: "Endpoint is disabled" },
    KMSThrottling: { status: 400, message: "KMS throttling" },
    InternalError: { status: 500, message: "An internal error occurred." },
    ServiceUnavailable: { status: 503, message: "Service is unavailable. Please try again later." },
  },
};

function sesError(code: string, message: string, status: number, requestId: string): Response {
  return xml(
    `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>${
      status >= 500 ? "Receiver" : "Sender"
    }</Type><Code>${xmlEscape(code)}</Code><Message>${
      xmlEscape(message)
    }</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    status,
    requestId,
  );
}

/** The ErrorResponse of a service, for a known or given code. */
function awsError(
  service: Service,
  code: string,
  options: { status?: number; message?: string } = {},
): Response {
  const known = knownErrors[service][code];
  const status = options.status ?? known?.status ?? 400;
  const message = options.message ?? known?.message ?? code;
  const requestId = awsRequestId();
  const response = service === "ses"
    ? sesError(code, message, status, requestId)
    : snsError(code, message, status, requestId);
  return response;
}

/** Members `prefix.member.1`, `prefix.member.2`… of an awsQuery list. */
function members(fields: Record<string, string | string[]>, prefix: string): string[] {
  const list: string[] = [];
  for (let i = 1; field(fields, `${prefix}.member.${i}`) !== undefined; i++) {
    list.push(field(fields, `${prefix}.member.${i}`)!);
  }
  return list;
}

/** The AWS vendors (SES and SNS share the endpoint) and the SNS delivery of SES events. */
export class AwsVendor {
  readonly snsHttp: SnsHttp;

  constructor(
    private ctx: SandboxContext,
    private ses: VendorState,
    private sns: VendorState,
  ) {
    this.snsHttp = new SnsHttp(ctx);
  }

  /** Forgets subscriptions and the signature version (control reset). */
  reset(): void {
    this.snsHttp.reset();
  }

  /** Handles a request under /aws; `path` is what follows the prefix. */
  async handle(request: Request, path: string): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "GET" && path === this.ctx.snsCertPath.slice("/aws".length)) {
      return new Response(this.ctx.sns.certificatePem, {
        headers: { "content-type": "application/x-x509-ca-cert" },
      });
    }
    if (request.method === "GET" && (path === "/" || path === "")) {
      return this.snsHttp.answerGet(url);
    }
    if (request.method !== "POST" || (path !== "/" && path !== "")) {
      return new Response("Not Found", { status: 404 });
    }
    const raw = await request.text();
    const fields = parseForm(raw);
    const action = field(fields, "Action");
    const service: Service | null = action === "SendEmail"
      ? "ses"
      : action === "Publish"
      ? "sns"
      : null;
    const auth = parseAuthorization(request.headers.get("authorization"));
    const scopeService = auth?.service === "email" ? "ses" : auth?.service;
    const target = service ?? (scopeService === "sns" ? "sns" : "ses");
    const state = target === "ses" ? this.ses : this.sns;
    if (state.faults.outage) return awsError(target, "ServiceUnavailable");
    await sleep(state.faults.latencyMs);

    const refused = await this.checkAuth(request, url, raw, target);
    if (refused) return refused;
    if (!service) {
      return awsError(target, "InvalidAction", {
        message: `The action ${action ?? "(none)"} is not valid for this web service.`,
      });
    }
    // SES answers its rate with Throttling (400); SNS with Throttled (HTTP 429), as client-sns
    // models it (ThrottledException).
    if (state.checkRate().limited) {
      return awsError(service, service === "ses" ? "Throttling" : "Throttled");
    }
    return service === "ses" ? this.sendEmail(fields, auth!.region) : this.publish(fields);
  }

  /** The SigV4 checks; a response when the request is refused, else null. */
  private async checkAuth(
    request: Request,
    url: URL,
    body: string,
    service: Service,
  ): Promise<Response | null> {
    const header = request.headers.get("authorization");
    if (!header) {
      return awsError(service, "MissingAuthenticationToken", {
        status: 403,
        message: "Request is missing Authentication Token",
      });
    }
    const auth = parseAuthorization(header);
    if (!auth) {
      return awsError(service, "IncompleteSignature", {
        status: 400,
        message: `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' ` +
          `parameters. Authorization=${header.split(" ")[0]}`,
      });
    }
    if (auth.accessKeyId !== this.ctx.credentials.awsAccessKeyId) {
      return awsError(service, "InvalidClientTokenId", {
        status: 403,
        message: "The security token included in the request is invalid.",
      });
    }
    const scoped = auth.service === "email" ? "ses" : auth.service;
    if (scoped !== service) {
      return awsError(service, "SignatureDoesNotMatch", {
        status: 403,
        message: `Credential should be scoped to correct service: '${service}'. `,
      });
    }
    const amzDate = request.headers.get("x-amz-date");
    if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
      return awsError(service, "IncompleteSignature", {
        status: 400,
        message: "Authorization header requires existence of either a 'X-Amz-Date' or a " +
          "'Date' header.",
      });
    }
    if (amzDate.slice(0, 8) !== auth.date) {
      return awsError(service, "SignatureDoesNotMatch", {
        status: 403,
        message: `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of ` +
          `date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
      });
    }
    if (!auth.signedHeaders.includes("host")) {
      return awsError(service, "SignatureDoesNotMatch", {
        status: 403,
        message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
      });
    }
    const expected = await computeSignature({
      method: request.method,
      url,
      headers: request.headers,
      signedHeaders: auth.signedHeaders,
      body,
      amzDate,
      region: auth.region,
      service: auth.service,
      secretAccessKey: this.ctx.credentials.awsSecretAccessKey,
    });
    if (expected !== auth.signature) {
      return awsError(service, "SignatureDoesNotMatch", {
        status: 403,
        message: "The request signature we calculated does not match the signature you " +
          "provided. Check your AWS Secret Access Key and signing method. Consult the service " +
          "documentation for details.",
      });
    }
    return null;
  }

  /** SES Action=SendEmail. */
  private sendEmail(fields: Record<string, string | string[]>, region: string): Response {
    const source = field(fields, "Source");
    const to = members(fields, "Destination.ToAddresses");
    const cc = members(fields, "Destination.CcAddresses");
    const bcc = members(fields, "Destination.BccAddresses");
    const subject = field(fields, "Message.Subject.Data");
    const text = field(fields, "Message.Body.Text.Data");
    const html = field(fields, "Message.Body.Html.Data");
    const configurationSet = field(fields, "ConfigurationSetName");
    const tags: Record<string, string> = {};
    for (let i = 1; field(fields, `Tags.member.${i}.Name`) !== undefined; i++) {
      tags[field(fields, `Tags.member.${i}.Name`)!] = field(fields, `Tags.member.${i}.Value`) ?? "";
    }
    const recipients = [...to, ...cc, ...bcc];
    const missing = !source
      ? "source"
      : subject === undefined
      ? "message.subject"
      : text === undefined && html === undefined
      ? "message.body"
      : null;
    if (missing) {
      return awsError("ses", "ValidationError", {
        message: `1 validation error detected: Value null at '${missing}' failed to satisfy ` +
          "constraint: Member must not be null",
      });
    }
    if (recipients.length === 0) {
      return awsError("ses", "InvalidParameterValue", { message: "Missing final '@domain'" });
    }
    if (recipients.length > 50) {
      return awsError("ses", "InvalidParameterValue", { message: "Recipient count exceeds 50." });
    }
    const bad = [source!, ...recipients].find((address) =>
      !/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(address.replace(/^.*<(.*)>\s*$/, "$1"))
    );
    if (bad !== undefined) {
      return awsError("ses", "InvalidParameterValue", { message: `Illegal address: ${bad}` });
    }
    for (const name of Object.keys(tags)) {
      if (!/^[A-Za-z0-9_-]{1,256}$/.test(name) || !/^[A-Za-z0-9_.@-]{0,256}$/.test(tags[name])) {
        return awsError("ses", "InvalidParameterValue", {
          message: `Invalid tag name <${name}>: only alphanumeric ASCII characters, '_', and ` +
            "'-' are allowed.",
        });
      }
    }

    const fail = this.ses.takeFailNext();
    const failCode = fail ? String(fail.code) : null;
    const eventFailure = failCode === "Bounce" || failCode === "Complaint";
    const failLater = fail !== null && (eventFailure || fail.via === "callback");
    if (fail && !failLater) {
      return awsError("ses", failCode!, {
        status: fail.status,
        message: failCode === "MessageRejected"
          ? knownErrors.ses.MessageRejected.message + source
          : undefined,
      });
    }
    if (this.ses.randomFailure()) return awsError("ses", "InternalFailure");

    const messageId = sesMessageId(region);
    const receivedAt = new Date().toISOString();
    this.ses.requests.push({
      id: messageId,
      receivedAt,
      to: recipients.join(", "),
      subject,
      body: text ?? html,
      params: { ...fields, tags },
      ourId: tags.message_id,
    });
    const endpoint = this.ctx.webhooks.sesSns;
    if (endpoint) {
      const mail: SesMail = {
        messageId,
        region,
        timestamp: receivedAt,
        source: source!,
        destination: recipients,
        subject: subject!,
        configurationSet,
        tags,
      };
      const forced = failLater ? (failCode === "Complaint" ? "Complaint" : "Bounce") : undefined;
      const topicArn = sesEventsTopicArn(region);
      this.ctx.callbacks.schedule(
        this.ses,
        (mode) =>
          sesEventPlan(mail, mode, forced).map((step) =>
            this.snsHttp.notification(
              endpoint,
              topicArn,
              sesEventJson(mail, step.type, step.recipients, step.outcome),
              step.type,
              messageId,
            )
          ),
        { retries: 3, backoffMs: 200 },
      );
    }
    const requestId = awsRequestId();
    return xml(
      `<SendEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">` +
        `<SendEmailResult><MessageId>${messageId}</MessageId></SendEmailResult>` +
        `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
        `</SendEmailResponse>`,
      200,
      requestId,
    );
  }

  /** SNS Action=Publish to a phone number (SMS). */
  private publish(fields: Record<string, string | string[]>): Response {
    const phone = field(fields, "PhoneNumber");
    const message = field(fields, "Message");
    const attributes: Record<string, { DataType: string; StringValue?: string }> = {};
    for (let i = 1; field(fields, `MessageAttributes.entry.${i}.Name`) !== undefined; i++) {
      const prefix = `MessageAttributes.entry.${i}`;
      attributes[field(fields, `${prefix}.Name`)!] = {
        DataType: field(fields, `${prefix}.Value.DataType`) ?? "",
        StringValue: field(fields, `${prefix}.Value.StringValue`),
      };
    }
    const invalid = (reason: string) =>
      awsError("sns", "InvalidParameter", { message: `Invalid parameter: ${reason}` });
    if (!phone) {
      return field(fields, "TopicArn") || field(fields, "TargetArn")
        ? invalid("TopicArn or TargetArn Reason: the sandbox publishes SMS only")
        : invalid("PhoneNumber Reason: no value for required parameter");
    }
    if (!isE164(phone)) {
      return invalid(`PhoneNumber Reason: ${phone} is not valid to publish to`);
    }
    if (!message) return invalid("Empty message");
    if (new TextEncoder().encode(message).length > 1600) {
      return invalid("Message too long");
    }
    for (const [name, value] of Object.entries(attributes)) {
      if (!["String", "Number", "Binary", "String.Array"].includes(value.DataType)) {
        return invalid(`The message attribute '${name}' has an invalid message attribute type`);
      }
    }
    const senderId = attributes["AWS.SNS.SMS.SenderID"]?.StringValue;
    if (senderId !== undefined && !/^(?=.*[A-Za-z])[A-Za-z0-9]{3,11}$/.test(senderId)) {
      return invalid("MessageAttributes Reason: Value of AWS.SNS.SMS.SenderID is invalid");
    }
    const smsType = attributes["AWS.SNS.SMS.SMSType"]?.StringValue;
    if (smsType !== undefined && !["Promotional", "Transactional"].includes(smsType)) {
      return invalid("MessageAttributes Reason: Value of AWS.SNS.SMS.SMSType is invalid");
    }
    const maxPrice = attributes["AWS.SNS.SMS.MaxPrice"];
    if (
      maxPrice && (maxPrice.DataType !== "Number" || !Number.isFinite(Number(maxPrice.StringValue)))
    ) {
      return invalid("MessageAttributes Reason: Value of AWS.SNS.SMS.MaxPrice is invalid");
    }
    for (const name of ["AWS.MM.SMS.EntityId", "AWS.MM.SMS.TemplateId"]) {
      const value = attributes[name]?.StringValue;
      if (value !== undefined && (value.length < 1 || value.length > 50)) {
        return invalid(`MessageAttributes Reason: Value of ${name} must be 1 to 50 characters`);
      }
    }

    const fail = this.sns.takeFailNext();
    if (fail) return awsError("sns", String(fail.code), { status: fail.status });
    if (this.sns.randomFailure()) return awsError("sns", "InternalError");

    const messageId = crypto.randomUUID();
    this.sns.requests.push({
      id: messageId,
      receivedAt: new Date().toISOString(),
      to: phone,
      body: message,
      template: attributes["AWS.MM.SMS.TemplateId"]?.StringValue,
      params: { ...fields, messageAttributes: attributes },
      ourId: attributes.message_id?.StringValue,
    });
    const requestId = awsRequestId();
    return xml(
      `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">` +
        `<PublishResult><MessageId>${messageId}</MessageId></PublishResult>` +
        `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
        `</PublishResponse>`,
      200,
      requestId,
    );
  }

  /**
   * Sends a SubscriptionConfirmation of the SES events topic to webhooks.sesSns (control API).
   * Returns its Token, SubscribeURL's topic and the receiver's HTTP status.
   */
  async confirmSubscription(region: string): Promise<{ token: string; status: number }> {
    const endpoint = this.ctx.webhooks.sesSns;
    if (!endpoint) throw new Error("no webhooks.sesSns is set");
    const { delivery, token } = this.snsHttp.confirmation(endpoint, region);
    const status = await this.ctx.callbacks.deliverNow(this.ses, delivery, {
      retries: 0,
      backoffMs: 0,
    });
    return { token, status };
  }
}
