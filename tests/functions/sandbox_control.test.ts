// The sandbox's control and inspection APIs across vendors, and `sandbox/main.ts` run alone.
import assert from "node:assert/strict";
import { defaultSandboxCredentials, type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { startReceiver } from "../../sandbox/receiver.ts";

async function post(sandbox: Sandbox, path: string, body: unknown) {
  const response = await fetch(`${sandbox.url}${path}`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

function twilioSend(sandbox: Sandbox, params: Record<string, string>) {
  const { twilioAccountSid, twilioAuthToken } = sandbox.credentials;
  return fetch(`${sandbox.url}/twilio/2010-04-01/Accounts/${twilioAccountSid}/Messages.json`, {
    method: "POST",
    headers: { authorization: "Basic " + btoa(`${twilioAccountSid}:${twilioAuthToken}`) },
    body: new URLSearchParams({ To: "+919810150461", From: "PYRNWL", Body: "x", ...params }),
  });
}

Deno.test("sandbox control: defaults, own credentials, and faults kept per vendor", async () => {
  const sandbox = await startSandbox({
    credentials: { twilioAuthToken: "0123456789abcdef0123456789abcdef" },
  });
  try {
    assert.match(sandbox.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(sandbox.credentials.twilioAuthToken, "0123456789abcdef0123456789abcdef");
    assert.equal(sandbox.credentials.awsAccessKeyId, defaultSandboxCredentials.awsAccessKeyId);
    assert.match(defaultSandboxCredentials.twilioAccountSid, /^AC[0-9a-f]{32}$/);
    assert.match(defaultSandboxCredentials.sendgridApiKey, /^SG\.[\w-]{22}\.[\w-]{43}$/);
    assert.match(sandbox.sendgridPublicKey, /^MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/);
    assert.ok(sandbox.snsSigningCertUrl.startsWith(`${sandbox.url}/aws/`));
    assert.ok(sandbox.snsSigningCertUrl.endsWith(".pem"));

    const set = await post(sandbox, "/_control/sendgrid", {
      latencyMs: 5,
      failNext: { code: 400 },
      callbacks: { mode: "late", delayMs: 10 },
    });
    assert.equal(set.status, 200);
    assert.deepEqual(set.json, {
      latencyMs: 5,
      errorRate: 0,
      failNext: { code: 400, count: 1 },
      outage: false,
      rateLimitPerSecond: null,
      callbacks: { mode: "late", delayMs: 10 },
    });
    // Twilio is untouched by SendGrid's faults.
    const twilio = await (await fetch(`${sandbox.url}/_control/twilio`)).json();
    assert.equal(twilio.failNext, null);
    const response = await twilioSend(sandbox, {});
    assert.equal(response.status, 201);
    await response.body?.cancel();
  } finally {
    await sandbox.close();
  }
});

Deno.test("sandbox control: bad control requests are refused with the reason", async () => {
  const sandbox = await startSandbox();
  try {
    const cases: Array<[string, unknown, RegExp]> = [
      ["/_control/twilio", { errorRate: 1.5 }, /errorRate/],
      ["/_control/twilio", { latencyMs: -1 }, /latencyMs/],
      // A good field beside a bad one is not applied either (checked below).
      ["/_control/twilio", { latencyMs: 4321, errorRate: 2 }, /errorRate/],
      ["/_control/twilio", { failNext: { count: 1 } }, /failNext/],
      ["/_control/twilio", { failNext: { code: 21211, count: 0 } }, /count/],
      ["/_control/twilio", { callbacks: { mode: "sometimes" } }, /callbacks\.mode/],
      ["/_control/twilio", { outage: "yes" }, /outage/],
      ["/_control/twilio", "not json", /JSON/],
      ["/_control/twilio/reply", { from: "98101", text: "STOP" }, /E\.164/],
      ["/_control/aws_ses", { snsSignatureVersion: "3" }, /snsSignatureVersion/],
      ["/_control/whatsapp_cloud/templates", { templates: [{ name: "x" }] }, /template/],
      ["/_control/webhooks", { sendgrid: "not a url" }, /sendgrid/],
    ];
    for (const [path, body, reason] of cases) {
      const answer = await post(sandbox, path, body);
      assert.equal(answer.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.match(answer.json.error, reason);
    }
    assert.equal((await post(sandbox, "/_control/stripe", {})).status, 404);
    assert.equal(
      (await post(sandbox, "/_control/sendgrid/reply", { from: "+919810150461", text: "x" }))
        .status,
      404,
    );
    // No inbound webhook configured: the reply cannot be delivered.
    assert.equal(
      (await post(sandbox, "/_control/twilio/reply", { from: "+919810150461", text: "x" })).status,
      409,
    );
    const faults = await (await fetch(`${sandbox.url}/_control/twilio`)).json();
    assert.equal(faults.errorRate, 0);
    assert.equal(faults.latencyMs, 0, "nothing of a refused request is applied");
    assert.equal(faults.failNext, null);
  } finally {
    await sandbox.close();
  }
});

Deno.test("sandbox control: reset clears the logs and cancels callbacks still waiting", async () => {
  const receiver = await startReceiver();
  const sandbox = await startSandbox();
  try {
    await post(sandbox, "/_control/twilio", { callbacks: { mode: "late", delayMs: 400 } });
    for (const id of ["m-1", "m-2"]) {
      const response = await twilioSend(sandbox, {
        StatusCallback: `${receiver.url}/s?message_id=${id}`,
      });
      await response.body?.cancel();
    }
    const mine = await (await fetch(`${sandbox.url}/_inspect/twilio/requests?ourId=m-2`)).json();
    assert.equal(mine.length, 1);
    assert.equal(mine[0].ourId, "m-2");
    assert.equal((await post(sandbox, "/_control/reset", {})).status, 200);
    await sandbox.callbacksSettled();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(receiver.received.length, 0);
    assert.deepEqual(await (await fetch(`${sandbox.url}/_inspect/twilio/requests`)).json(), []);
    assert.equal(
      (await (await fetch(`${sandbox.url}/_control/twilio`)).json()).callbacks.mode,
      "normal",
    );
  } finally {
    await sandbox.close();
    await receiver.close();
  }
});

Deno.test("sandbox control: webhooks can be pointed elsewhere after start", async () => {
  const receiver = await startReceiver();
  const sandbox = await startSandbox();
  try {
    const set = await post(sandbox, "/_control/webhooks", { twilioInbound: `${receiver.url}/in` });
    assert.equal(set.json.twilioInbound, `${receiver.url}/in`);
    const reply = await post(sandbox, "/_control/twilio/reply", {
      from: "+919810150461",
      text: "hi",
    });
    assert.equal(reply.status, 200);
    assert.equal(receiver.received[0].path, "/in");
  } finally {
    await sandbox.close();
    await receiver.close();
  }
});

Deno.test("sandbox main.ts: runs alone, prints the base URLs and stops on SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../sandbox/main.ts", import.meta.url).pathname, "--port", "0"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  try {
    while (!output.includes("GRAPH_BASE_URL=")) {
      const { value, done } = await reader.read();
      if (done) break;
      output += value;
    }
    const base = output.match(/TWILIO_BASE_URL=(\S+)\/twilio/)?.[1];
    assert.ok(base, output);
    assert.match(output, /AWS_ENDPOINT_URL=http:\/\/127\.0\.0\.1:\d+\/aws\n/);
    assert.match(output, /GRAPH_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/graph\/v21\.0\n/);
    const faults = await fetch(`${base}/_control/whatsapp_cloud`);
    assert.equal(faults.status, 200);
    await faults.body?.cancel();
  } finally {
    child.kill("SIGTERM");
    await reader.cancel();
  }
  const status = await child.status;
  assert.equal(status.success, true);
});
