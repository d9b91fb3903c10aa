// The vendor sandbox: Twilio, AWS SES and SNS, SendGrid, the WhatsApp Cloud API, Razorpay and
// OpenAI played by one Deno server, each under its own path prefix, with a control API for faults
// and callback modes and an inspection API of what each vendor received. Tests call
// `startSandbox()`; `deno run -A sandbox/main.ts` runs it alone. Contract: notes/issue7_common.md
// ("The vendor sandbox"); vendor behaviour: ../shared/VENDORS.md.

import { AwsVendor } from "./aws.ts";
import { CallbackEngine } from "./callbacks.ts";
import { handleControl, type Vendors } from "./control.ts";
import { json } from "./http.ts";
import { randomHex } from "./ids.ts";
import { OpenaiVendor } from "./openai.ts";
import { RazorpayVendor } from "./razorpay.ts";
import { SendgridVendor } from "./sendgrid.ts";
import { SocialVendor } from "./social.ts";
import { sendgridKeyPair, snsSigner } from "./sign.ts";
import { type VendorCode, vendorCodes, VendorState } from "./state.ts";
import { TelegramVendor } from "./telegram.ts";
import { TwilioVendor } from "./twilio.ts";
import type {
  Sandbox,
  SandboxContext,
  SandboxCredentials,
  SandboxOptions,
  SandboxWebhooks,
} from "./types.ts";
import { WhatsappVendor } from "./whatsapp.ts";

// The shared contract's shapes, and helpers for callers that talk to the sandbox directly.
export type { Sandbox, SandboxCredentials, SandboxOptions, SandboxWebhooks };
export { defaultFaults } from "./state.ts";
export type { VendorCode } from "./state.ts";
export type { WhatsappTemplate } from "./whatsapp.ts";
export { telegramBotUsername } from "./telegram.ts";
export { type IssuedToken, socialAccounts } from "./social.ts";
export { signAwsQuery } from "./sigv4.ts";

/**
 * The credentials the sandbox accepts unless told otherwise: fixed test values shaped like the
 * real ones (the AWS pair is AWS's own documentation example). Not secrets.
 */
export const defaultSandboxCredentials: SandboxCredentials = Object.freeze({
  twilioAccountSid: "ACf3d1c9b0a8e24d6f9b7c5a3e1d0f2b4c",
  twilioAuthToken: "7c2e9a41d5b83f06e1a4c9d27b5f8e30",
  awsAccessKeyId: "AKIAIOSFODNN7EXAMPLE",
  awsSecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  whatsappAccessToken: "EAAGm0PX4ZCpsBAPy360SandboxZBmZCvZA7YZBZCEhWZAqZC0ZBsZD",
  whatsappPhoneNumberId: "106540352242922",
  whatsappAppSecret: "5a8f2d9c1e7b4036a2c8d1f9e4b7a603",
  sendgridApiKey: "SG.Py360SandboxKey0000Aa1.sAnDbOx-KeY_0123456789abcdefghijklmnopqrstu",
  razorpayKeyId: "rzp_test_Py360Sandbox7K",
  razorpayKeySecret: "Py360SandboxKeySecret7Qx",
  razorpayWebhookSecret: "py360-sandbox-razorpay-webhook-secret",
  openaiApiKey: "sk-proj-Py360SandboxKey7Qx4mN2vR8tB1cZ6hJ3wL9pD5fG0kS2yE7aU4iO1nM8bV3xC6",
  telegramBotToken: "7123456789:AAHPy360SandboxBotToken_k3Xq9Lm2Vz8Rt5Yw",
  facebookAppId: "1398204567712345",
  facebookAppSecret: "3f9c2a7e5b1d4086c7e2a9f1b3d5c8e0",
  xClientId: "UHkzNjBTYW5kYm94Q2xpZW50OjE6Y2k",
  xClientSecret: "Py360SandboxXClientSecret_4mN2vR8tB1cZ6hJ3wL9pD5fG0kS2yE7aU4iO1",
  linkedinClientId: "86py360sandbox",
  linkedinClientSecret: "WPL_AP1.Py360SandboxLi.k3Xq9A==",
});

/** Path prefixes of the vendors, as the base-URL variables point at them. */
const prefixes = [
  "/twilio",
  "/aws",
  "/sendgrid",
  "/graph",
  "/razorpay",
  "/openai",
  "/telegram",
  "/facebook",
  "/x",
  "/linkedin",
] as const;

/**
 * Starts the sandbox on `options.port` (0 or absent: a free port) of `options.hostname`
 * (127.0.0.1). Resolves once it listens; `close()` stops pending callbacks and the server.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const hostname = options.hostname ?? "127.0.0.1";
  const credentials: SandboxCredentials = { ...defaultSandboxCredentials, ...options.credentials };
  const [sendgridKey, sns] = await Promise.all([sendgridKeyPair(), snsSigner()]);
  const states = Object.fromEntries(vendorCodes.map((code) => [code, new VendorState()])) as Record<
    VendorCode,
    VendorState
  >;
  const ctx: SandboxContext = {
    url: "",
    credentials,
    webhooks: { ...options.webhooks },
    states,
    callbacks: new CallbackEngine(),
    sendgridKey,
    sns,
    snsCertPath: `/aws/SimpleNotificationService-${randomHex(32)}.pem`,
  };
  const vendors: Vendors = {
    twilio: new TwilioVendor(ctx, states.twilio),
    aws: new AwsVendor(ctx, states.aws_ses, states.aws_sns),
    sendgrid: new SendgridVendor(ctx, states.sendgrid),
    whatsapp: new WhatsappVendor(ctx, states.whatsapp_cloud),
    razorpay: new RazorpayVendor(ctx, states.razorpay),
    openai: new OpenaiVendor(ctx, states.openai),
    telegram: new TelegramVendor(ctx, states.telegram),
  };
  const social = new SocialVendor(ctx);

  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    const prefix = prefixes.find((p) => path === p || path.startsWith(`${p}/`));
    const rest = prefix ? path.slice(prefix.length) : path;
    try {
      if (prefix === "/twilio") return await vendors.twilio.handle(request, rest);
      if (prefix === "/aws") return await vendors.aws.handle(request, rest);
      if (prefix === "/sendgrid") return await vendors.sendgrid.handle(request, rest);
      if (prefix === "/graph" && social.ownsGraphPath(rest)) {
        return social.handleGraph(request, rest);
      }
      if (prefix === "/graph") return await vendors.whatsapp.handle(request, rest);
      if (prefix === "/razorpay") return await vendors.razorpay.handle(request, rest);
      if (prefix === "/openai") return await vendors.openai.handle(request, rest);
      if (prefix === "/telegram") return await vendors.telegram.handle(request, rest);
      if (prefix === "/facebook" || prefix === "/x" || prefix === "/linkedin") {
        return await social.handle(prefix, request, rest);
      }
      if (path === "/_control/reset" && request.method === "POST") social.reset();
      const socialAnswer = await social.control(request, path);
      if (socialAnswer) return socialAnswer;
      if (path.startsWith("/_control/") || path.startsWith("/_inspect/")) {
        return await handleControl(request, path, ctx, vendors);
      }
      return json({ error: `no vendor at ${path}` }, 404);
    } catch (error) {
      return json({ error: `sandbox failure: ${(error as Error).message}` }, 500);
    }
  };

  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    port: options.port ?? 0,
    hostname,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, handler);
  const addr = await listening;
  ctx.url = `http://${hostname}:${addr.port}`;

  return {
    url: ctx.url,
    credentials,
    sendgridPublicKey: sendgridKey.publicKey,
    snsSigningCertUrl: `${ctx.url}${ctx.snsCertPath}`,
    callbacksSettled: async () => {
      await Promise.all([ctx.callbacks.settled(), vendors.razorpay.webhooks.settled()]);
    },
    close: async () => {
      ctx.callbacks.cancelAll();
      vendors.razorpay.cancel();
      await Promise.all([ctx.callbacks.settled(), vendors.razorpay.webhooks.settled()]);
      await server.shutdown();
    },
  };
}
