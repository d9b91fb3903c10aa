// The providers the configuration enables, built once per process, and each vendor's error
// table by provider code (the webhooks classify callback errors with the same tables).
import type { Config } from "../config.ts";
import { sesErrors, sesProvider } from "./aws_ses.ts";
import { snsErrors, snsProvider } from "./aws_sns.ts";
import { classifyError } from "./classify.ts";
import { sendgridErrors, sendgridProvider } from "./sendgrid.ts";
import { telegramBotProvider, telegramErrors } from "./telegram_bot.ts";
import { twilioErrors, twilioProvider } from "./twilio.ts";
import type { ErrorTable, Provider, ProviderCode, SendFailure } from "./types.ts";
import { whatsappErrors, whatsappProvider } from "./whatsapp_cloud.ts";

export type * from "./types.ts";
export { providerCodes } from "./types.ts";

/** Each provider's error-classification table, by provider code. */
export const errorTables: Readonly<Record<ProviderCode, ErrorTable>> = {
  twilio: twilioErrors,
  aws_sns: snsErrors,
  aws_ses: sesErrors,
  sendgrid: sendgridErrors,
  whatsapp_cloud: whatsappErrors,
  telegram: telegramErrors,
};

/**
 * A vendor error code met outside a send (a status callback's ErrorCode, a WhatsApp webhook's
 * `errors[].code`, an SES bounce as `Bounce.Permanent`), classified through the provider's table.
 */
export function classifyVendorError(
  provider: ProviderCode,
  code: string | number,
  text = "",
): SendFailure {
  return classifyError(errorTables[provider], String(code), text);
}

/** Optional seams for tests: a fetch to use instead of the global one. */
export interface BuildOptions {
  fetch?: typeof fetch;
}

/**
 * The providers whose vendor is enabled in `config` (config.vendors: twilio, sns, ses, sendgrid,
 * whatsapp, telegram), by provider code; a disabled vendor is simply absent. Twilio's status callbacks go
 * to `${publicFunctionsUrl}/webhooks/twilio?message_id=…`. Every send has the deadline
 * PROVIDER_TIMEOUT_MS.
 */
export function buildProviders(
  config: Config,
  options: BuildOptions = {},
): Partial<Record<ProviderCode, Provider>> {
  const providers: Partial<Record<ProviderCode, Provider>> = {};
  const timeoutMs = config.PROVIDER_TIMEOUT_MS;
  const aws = config.AWS_ACCESS_KEY_ID && config.AWS_SECRET_ACCESS_KEY
    ? {
      region: config.AWS_REGION,
      accessKeyId: config.AWS_ACCESS_KEY_ID,
      secretAccessKey: config.AWS_SECRET_ACCESS_KEY,
      endpoint: config.AWS_ENDPOINT_URL,
      timeoutMs,
    }
    : undefined;

  if (config.vendors.twilio.enabled && config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN) {
    providers.twilio = twilioProvider({
      accountSid: config.TWILIO_ACCOUNT_SID,
      authToken: config.TWILIO_AUTH_TOKEN,
      baseUrl: config.TWILIO_BASE_URL,
      from: config.SMS_SENDER_ID,
      messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID,
      statusCallbackUrl: `${config.publicFunctionsUrl}/webhooks/twilio`,
      timeoutMs,
      fetch: options.fetch,
    });
  }
  if (config.vendors.sns.enabled && aws) {
    providers.aws_sns = snsProvider({ ...aws, senderId: config.SMS_SENDER_ID });
  }
  if (config.vendors.ses.enabled && aws && config.SES_FROM_EMAIL) {
    providers.aws_ses = sesProvider({
      ...aws,
      from: config.SES_FROM_EMAIL,
      configurationSet: config.SES_CONFIGURATION_SET,
    });
  }
  if (config.vendors.sendgrid.enabled && config.SENDGRID_API_KEY && config.SENDGRID_FROM_EMAIL) {
    providers.sendgrid = sendgridProvider({
      apiKey: config.SENDGRID_API_KEY,
      baseUrl: config.SENDGRID_BASE_URL,
      from: config.SENDGRID_FROM_EMAIL,
      timeoutMs,
      fetch: options.fetch,
    });
  }
  if (
    config.vendors.whatsapp.enabled && config.WHATSAPP_ACCESS_TOKEN &&
    config.WHATSAPP_PHONE_NUMBER_ID
  ) {
    providers.whatsapp_cloud = whatsappProvider({
      accessToken: config.WHATSAPP_ACCESS_TOKEN,
      phoneNumberId: config.WHATSAPP_PHONE_NUMBER_ID,
      baseUrl: config.GRAPH_BASE_URL,
      timeoutMs,
      fetch: options.fetch,
    });
  }
  if (config.vendors.telegram.enabled && config.TELEGRAM_BOT_TOKEN) {
    providers.telegram = telegramBotProvider({
      botToken: config.TELEGRAM_BOT_TOKEN,
      baseUrl: config.TELEGRAM_BASE_URL,
      timeoutMs,
      fetch: options.fetch,
    });
  }
  return providers;
}
