// The vendors of the local stack: unless real credentials are set, `npm start` runs the vendor
// sandbox and points every vendor variable of the functions at it, with the sandbox's webhooks
// pointed back at the functions gateway.
import { snsCertUrlPatternUnder } from "../../functions/_shared/signatures/sns.ts";
import type { Sandbox, SandboxWebhooks } from "../../sandbox/mod.ts";
import { sesEventsTopicArn } from "../../sandbox/sns_http.ts";

/** The variables that mean "use this real vendor": any one of them keeps the sandbox off. */
export const realVendorVariables = [
  "TWILIO_ACCOUNT_SID",
  "AWS_ACCESS_KEY_ID",
  "WHATSAPP_ACCESS_TOKEN",
  "SENDGRID_API_KEY",
] as const;

/** Port of the sandbox in the local stack (beside the gateway's 54321 and the database's 54322). */
export const sandboxPort = 54330;

/** Where the sandbox posts its callbacks: the webhooks function behind the gateway. */
export function sandboxWebhooks(functionsUrl: string): SandboxWebhooks {
  return {
    whatsapp: `${functionsUrl}/webhooks/whatsapp`,
    sesSns: `${functionsUrl}/webhooks/ses`,
    sendgrid: `${functionsUrl}/webhooks/sendgrid`,
    twilioInbound: `${functionsUrl}/webhooks/twilio`,
    razorpay: `${functionsUrl}/webhooks/razorpay`,
  };
}

/** The AWS region of the local stack: the sandbox's SES topic is in it. */
const sandboxAwsRegion = "ap-south-1";

/**
 * The functions' vendor variables for the sandbox: credentials, base URLs, webhook secrets and
 * keys, senders (a DLT header for SMS, a configuration set so SES publishes events with our
 * tags), the SNS topic the sandbox publishes SES events to (the webhook takes no other), and
 * where Twilio's status callbacks go (`functionsUrl`, e.g. http://127.0.0.1:54321/functions/v1).
 */
export function sandboxEnv(sandbox: Sandbox, functionsUrl: string): Record<string, string> {
  const c = sandbox.credentials;
  return {
    PUBLIC_FUNCTIONS_URL: functionsUrl,
    TWILIO_ACCOUNT_SID: c.twilioAccountSid,
    TWILIO_AUTH_TOKEN: c.twilioAuthToken,
    TWILIO_BASE_URL: `${sandbox.url}/twilio`,
    SMS_SENDER_ID: "PYRNWL",
    AWS_REGION: sandboxAwsRegion,
    AWS_ACCESS_KEY_ID: c.awsAccessKeyId,
    AWS_SECRET_ACCESS_KEY: c.awsSecretAccessKey,
    AWS_ENDPOINT_URL: `${sandbox.url}/aws`,
    SES_FROM_EMAIL: "renewals@py360.test",
    SES_CONFIGURATION_SET: "py360-events",
    SNS_SIGNING_CERT_URL_PATTERN: snsCertUrlPatternUnder(`${sandbox.url}/aws`).source,
    SNS_TOPIC_ARNS: sesEventsTopicArn(sandboxAwsRegion),
    SENDGRID_API_KEY: c.sendgridApiKey,
    SENDGRID_BASE_URL: `${sandbox.url}/sendgrid`,
    SENDGRID_FROM_EMAIL: "renewals@py360.test",
    SENDGRID_WEBHOOK_PUBLIC_KEY: sandbox.sendgridPublicKey,
    WHATSAPP_ACCESS_TOKEN: c.whatsappAccessToken,
    WHATSAPP_PHONE_NUMBER_ID: c.whatsappPhoneNumberId,
    WHATSAPP_APP_SECRET: c.whatsappAppSecret,
    WHATSAPP_VERIFY_TOKEN: "py360-local-verify-token",
    GRAPH_BASE_URL: `${sandbox.url}/graph/v21.0`,
    RAZORPAY_BASE_URL: `${sandbox.url}/razorpay`,
    RAZORPAY_KEY_ID: c.razorpayKeyId,
    RAZORPAY_KEY_SECRET: c.razorpayKeySecret,
    RAZORPAY_WEBHOOK_SECRET: c.razorpayWebhookSecret,
    OPENAI_API_KEY: c.openaiApiKey,
    OPENAI_BASE_URL: `${sandbox.url}/openai/v1`,
    TELEGRAM_BOT_TOKEN: c.telegramBotToken,
    TELEGRAM_BASE_URL: `${sandbox.url}/telegram`,
    // Social OAuth (issue 12): the sandbox's apps, and a fixed key for the local stack only
    // (a deployment sets its own SOCIAL_TOKEN_ENCRYPTION_KEY from Vault).
    SOCIAL_TOKEN_ENCRYPTION_KEY: "cHkzNjAtbG9jYWwtc29jaWFsLXRva2VuLWtleS0wMDE=",
    FACEBOOK_APP_ID: c.facebookAppId,
    FACEBOOK_APP_SECRET: c.facebookAppSecret,
    FACEBOOK_DIALOG_BASE_URL: `${sandbox.url}/facebook/v21.0`,
    X_CLIENT_ID: c.xClientId,
    X_CLIENT_SECRET: c.xClientSecret,
    X_AUTHORIZE_URL: `${sandbox.url}/x/i/oauth2/authorize`,
    X_API_BASE_URL: `${sandbox.url}/x`,
    LINKEDIN_CLIENT_ID: c.linkedinClientId,
    LINKEDIN_CLIENT_SECRET: c.linkedinClientSecret,
    LINKEDIN_OAUTH_BASE_URL: `${sandbox.url}/linkedin/oauth/v2`,
    LINKEDIN_API_BASE_URL: `${sandbox.url}/linkedin`,
    // The sandbox plays OpenAI, so the assistant is on wherever the sandbox is.
    ENABLE_AI_ASSISTANT: "true",
  };
}
