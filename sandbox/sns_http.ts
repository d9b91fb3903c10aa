// SNS delivery to an HTTP(S) subscriber, as the sandbox plays it (VENDORS.md §2 "SNS HTTP
// envelope" and "SNS signature"): Notification and SubscriptionConfirmation bodies (JSON sent
// as text/plain), the x-amz-sns-* headers, SignatureVersion "1" (RSA-SHA1) or "2" (RSA-SHA256)
// signed by sandbox/sign.ts with a certificate the sandbox serves at SigningCertURL; the
// SubscribeURL and UnsubscribeURL it answers.

import type { Delivery } from "./callbacks.ts";
import { xml, xmlEscape } from "./http.ts";
import { awsRequestId, randomHex } from "./ids.ts";
import type { SandboxContext } from "./types.ts";

/** The AWS account the sandbox's ARNs name (AWS's documentation example). */
export const sandboxAccountId = "123456789012";

/** The topic SES events are published to, in a region. */
export function sesEventsTopicArn(region: string): string {
  return `arn:aws:sns:${region}:${sandboxAccountId}:ses-events`;
}

/** A subscription of the sandbox's topic, made by a SubscriptionConfirmation. */
export interface SnsSubscription {
  topicArn: string;
  token: string;
  endpoint: string;
  subscriptionArn: string;
  confirmed: boolean;
}

/** Builds and answers SNS HTTP deliveries for the SES events. */
export class SnsHttp {
  /** Which signature version the next deliveries use (control: `snsSignatureVersion`). */
  signatureVersion: "1" | "2" = "1";
  readonly subscriptions: SnsSubscription[] = [];

  constructor(private ctx: SandboxContext) {}

  /** Back to version "1" and no subscriptions. */
  reset(): void {
    this.signatureVersion = "1";
    this.subscriptions.length = 0;
  }

  /** The subscription ARN of an endpoint, made up the first time it is asked for. */
  subscriptionArn(topicArn: string, endpoint: string): string {
    let found = this.subscriptions.find((s) => s.topicArn === topicArn && s.endpoint === endpoint);
    if (!found) {
      found = {
        topicArn,
        endpoint,
        token: randomHex(256),
        subscriptionArn: `${topicArn}:${crypto.randomUUID()}`,
        confirmed: true,
      };
      this.subscriptions.push(found);
    }
    return found.subscriptionArn;
  }

  /** A signed Notification of `message` (a JSON string) to `endpoint`. */
  notification(
    endpoint: string,
    topicArn: string,
    message: string,
    event: string,
    providerMessageId?: string,
  ): Delivery {
    return {
      event,
      url: endpoint,
      providerMessageId,
      build: async () => {
        const subscriptionArn = this.subscriptionArn(topicArn, endpoint);
        const fields: Record<string, string> = {
          Type: "Notification",
          MessageId: crypto.randomUUID(),
          TopicArn: topicArn,
          Message: message,
          Timestamp: new Date().toISOString(),
          UnsubscribeURL: `${this.ctx.url}/aws/?Action=Unsubscribe&SubscriptionArn=${
            encodeURIComponent(subscriptionArn)
          }`,
        };
        const body = await this.signed(fields);
        return {
          headers: {
            ...this.headers("Notification", fields),
            "x-amz-sns-subscription-arn": subscriptionArn,
          },
          body,
        };
      },
    };
  }

  /** A signed SubscriptionConfirmation of the SES events topic to `endpoint`. */
  confirmation(endpoint: string, region: string): { delivery: Delivery; token: string } {
    const topicArn = sesEventsTopicArn(region);
    const token = randomHex(256);
    const subscription: SnsSubscription = {
      topicArn,
      endpoint,
      token,
      subscriptionArn: `${topicArn}:${crypto.randomUUID()}`,
      confirmed: false,
    };
    const earlier = this.subscriptions.findIndex((s) =>
      s.topicArn === topicArn && s.endpoint === endpoint
    );
    if (earlier >= 0) this.subscriptions.splice(earlier, 1);
    this.subscriptions.push(subscription);
    const delivery: Delivery = {
      event: "SubscriptionConfirmation",
      url: endpoint,
      build: async () => {
        const fields: Record<string, string> = {
          Type: "SubscriptionConfirmation",
          MessageId: crypto.randomUUID(),
          Token: token,
          TopicArn: topicArn,
          Message: `You have chosen to subscribe to the topic ${topicArn}.\n` +
            "To confirm the subscription, visit the SubscribeURL included in this message.",
          SubscribeURL: `${this.ctx.url}/aws/?Action=ConfirmSubscription&TopicArn=${
            encodeURIComponent(topicArn)
          }&Token=${token}`,
          Timestamp: new Date().toISOString(),
        };
        return {
          headers: this.headers("SubscriptionConfirmation", fields),
          body: await this.signed(fields),
        };
      },
    };
    return { delivery, token };
  }

  /** GET /aws/?Action=ConfirmSubscription|Unsubscribe (the URLs in the SNS bodies). */
  answerGet(url: URL): Response {
    const action = url.searchParams.get("Action");
    const requestId = awsRequestId();
    if (action === "ConfirmSubscription") {
      const found = this.subscriptions.find((s) =>
        s.token === url.searchParams.get("Token") &&
        s.topicArn === url.searchParams.get("TopicArn")
      );
      if (!found) return snsError("InvalidParameter", "Invalid token", 400, requestId);
      found.confirmed = true;
      return xml(
        `<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">` +
          `<ConfirmSubscriptionResult><SubscriptionArn>${
            xmlEscape(found.subscriptionArn)
          }</SubscriptionArn></ConfirmSubscriptionResult>` +
          `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
          `</ConfirmSubscriptionResponse>`,
      );
    }
    if (action === "Unsubscribe") {
      const arn = url.searchParams.get("SubscriptionArn");
      const index = this.subscriptions.findIndex((s) => s.subscriptionArn === arn);
      if (index < 0) return snsError("NotFound", "Subscription does not exist", 404, requestId);
      this.subscriptions.splice(index, 1);
      return xml(
        `<UnsubscribeResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">` +
          `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
          `</UnsubscribeResponse>`,
      );
    }
    return snsError(
      "InvalidAction",
      `The action ${action} is not valid for this endpoint.`,
      400,
      requestId,
    );
  }

  /** The body: the fields plus SignatureVersion, Signature and SigningCertURL, as JSON. */
  private async signed(fields: Record<string, string>): Promise<string> {
    const version = this.signatureVersion;
    const signature = await this.ctx.sns.sign(fields, version);
    return JSON.stringify(
      {
        ...fields,
        SignatureVersion: version,
        Signature: signature,
        SigningCertURL: `${this.ctx.url}${this.ctx.snsCertPath}`,
      },
      null,
      2,
    );
  }

  private headers(type: string, fields: Record<string, string>): Record<string, string> {
    return {
      "content-type": "text/plain; charset=UTF-8",
      "x-amz-sns-message-type": type,
      "x-amz-sns-message-id": fields.MessageId,
      "x-amz-sns-topic-arn": fields.TopicArn,
      "user-agent": "Amazon Simple Notification Service Agent",
    };
  }
}

/** The awsQuery ErrorResponse of SNS. */
export function snsError(code: string, message: string, status: number, requestId: string) {
  return xml(
    `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${
      status >= 500 ? "Receiver" : "Sender"
    }</Type><Code>${xmlEscape(code)}</Code><Message>${
      xmlEscape(message)
    }</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    status,
    requestId,
  );
}
