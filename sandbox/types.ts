// The sandbox's public shapes (re-exported by mod.ts) and the context its vendors share.

import type { CallbackEngine } from "./callbacks.ts";
import type { SnsSigner } from "./sign.ts";
import type { VendorCode, VendorState } from "./state.ts";

/** The credentials each vendor checks on every request (and signs its callbacks with). */
export interface SandboxCredentials {
  /** `AC` + 32 hex. */
  twilioAccountSid: string;
  /** 32 hex; also the key of X-Twilio-Signature. */
  twilioAuthToken: string;
  awsAccessKeyId: string;
  awsSecretAccessKey: string;
  whatsappAccessToken: string;
  /** Digits, the `{PHONE_NUMBER_ID}` of the Graph path. */
  whatsappPhoneNumberId: string;
  /** The key of X-Hub-Signature-256. */
  whatsappAppSecret: string;
  /** `SG.` + 22 + `.` + 43 characters. */
  sendgridApiKey: string;
  /** `rzp_test_` + 14 alphanumerics: the user of Razorpay's Basic auth. */
  razorpayKeyId: string;
  /** The password of Razorpay's Basic auth; also the key of the Checkout signatures. */
  razorpayKeySecret: string;
  /** The key of X-Razorpay-Signature (rotated by `POST /_control/razorpay/webhook-secret`). */
  razorpayWebhookSecret: string;
  /** `sk-proj-` + alphanumerics: OpenAI's Bearer key. */
  openaiApiKey: string;
  /** `<bot id>:<35 characters>`: the token in the Bot API's path (`/bot<token>/<method>`). */
  telegramBotToken: string;
  /** Facebook's app id (`client_id` of the login dialog and the token exchange). */
  facebookAppId: string;
  facebookAppSecret: string;
  /** X's OAuth 2.0 client id; the client is confidential (Basic auth with the secret). */
  xClientId: string;
  xClientSecret: string;
  linkedinClientId: string;
  linkedinClientSecret: string;
}

/** Where the callbacks go (Twilio status callbacks go to each send's StatusCallback instead). */
export interface SandboxWebhooks {
  whatsapp?: string;
  sesSns?: string;
  sendgrid?: string;
  twilioInbound?: string;
  /** Razorpay's webhooks (an addition to the shared contract). */
  razorpay?: string;
}

/** Options of `startSandbox`. */
export interface SandboxOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  credentials?: Partial<SandboxCredentials>;
  webhooks?: SandboxWebhooks;
}

/** A running sandbox. */
export interface Sandbox {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  url: string;
  credentials: SandboxCredentials;
  /** The SendGrid event webhook's verification key: base64 DER SPKI, as SendGrid shows it. */
  sendgridPublicKey: string;
  /** Where the SNS signing certificate (PEM) is served. */
  snsSigningCertUrl: string;
  /** Resolves once no callback is waiting or in flight (an addition to the shared contract). */
  callbacksSettled(): Promise<void>;
  /** Stops pending callbacks and the server. */
  close(): Promise<void>;
}

/** Everything a vendor module needs, shared by all of them. */
export interface SandboxContext {
  /** Set once the server listens. */
  url: string;
  credentials: SandboxCredentials;
  webhooks: SandboxWebhooks;
  states: Record<VendorCode, VendorState>;
  callbacks: CallbackEngine;
  sendgridKey: { privateKey: CryptoKey; publicKey: string };
  sns: SnsSigner;
  /** The path of the SNS certificate under `url`, e.g. `/aws/SimpleNotificationService-….pem`. */
  snsCertPath: string;
}
