// Runs the vendor sandbox alone: `deno run -A sandbox/main.ts [--port 4010] [--hostname …]
// [--whatsapp-webhook URL] [--ses-sns-webhook URL] [--sendgrid-webhook URL]
// [--twilio-inbound-webhook URL] [--razorpay-webhook URL]`, or the same from SANDBOX_PORT,
// SANDBOX_HOSTNAME, SANDBOX_WEBHOOK_WHATSAPP, SANDBOX_WEBHOOK_SES_SNS, SANDBOX_WEBHOOK_SENDGRID,
// SANDBOX_WEBHOOK_TWILIO_INBOUND and SANDBOX_WEBHOOK_RAZORPAY (flags win). Prints the base-URL
// variables the clients use, then serves until SIGINT/SIGTERM.

import { parseArgs } from "node:util";
import { startSandbox } from "./mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    hostname: { type: "string" },
    "whatsapp-webhook": { type: "string" },
    "ses-sns-webhook": { type: "string" },
    "sendgrid-webhook": { type: "string" },
    "twilio-inbound-webhook": { type: "string" },
    "razorpay-webhook": { type: "string" },
  },
});
const env = (name: string) => Deno.env.get(name) || undefined;
const port = Number(values.port ?? env("SANDBOX_PORT") ?? 4010);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad port: ${values.port ?? env("SANDBOX_PORT")}`);
  Deno.exit(2);
}

const sandbox = await startSandbox({
  port,
  hostname: values.hostname ?? env("SANDBOX_HOSTNAME"),
  webhooks: {
    whatsapp: values["whatsapp-webhook"] ?? env("SANDBOX_WEBHOOK_WHATSAPP"),
    sesSns: values["ses-sns-webhook"] ?? env("SANDBOX_WEBHOOK_SES_SNS"),
    sendgrid: values["sendgrid-webhook"] ?? env("SANDBOX_WEBHOOK_SENDGRID"),
    twilioInbound: values["twilio-inbound-webhook"] ?? env("SANDBOX_WEBHOOK_TWILIO_INBOUND"),
    razorpay: values["razorpay-webhook"] ?? env("SANDBOX_WEBHOOK_RAZORPAY"),
  },
});

console.log(`vendor sandbox on ${sandbox.url}`);
console.log(`TWILIO_BASE_URL=${sandbox.url}/twilio`);
console.log(`AWS_ENDPOINT_URL=${sandbox.url}/aws`);
console.log(`SENDGRID_BASE_URL=${sandbox.url}/sendgrid`);
console.log(`GRAPH_BASE_URL=${sandbox.url}/graph/v21.0`);
console.log(`RAZORPAY_BASE_URL=${sandbox.url}/razorpay`);
console.log(`RAZORPAY_KEY_ID=${sandbox.credentials.razorpayKeyId}`);
console.log(`TELEGRAM_BASE_URL=${sandbox.url}/telegram`);
console.log(`FACEBOOK_DIALOG_BASE_URL=${sandbox.url}/facebook/v21.0`);
console.log(`X_AUTHORIZE_URL=${sandbox.url}/x/i/oauth2/authorize`);
console.log(`X_API_BASE_URL=${sandbox.url}/x`);
console.log(`LINKEDIN_OAUTH_BASE_URL=${sandbox.url}/linkedin/oauth/v2`);
console.log(`LINKEDIN_API_BASE_URL=${sandbox.url}/linkedin`);
console.log(`SNS signing certificate: ${sandbox.snsSigningCertUrl}`);
console.log(`SendGrid verification key: ${sandbox.sendgridPublicKey}`);

const stop = async () => {
  await sandbox.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
