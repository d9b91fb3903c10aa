// Twilio webhook signatures: the signer (sandbox/sign.ts, WebCrypto) and the verifier
// (functions/_shared/signatures/twilio.ts, node:crypto) each against the vectors twilio-node
// publishes in spec/validation.spec.js (VENDORS.md §1), then against each other, then refusals.
import assert from "node:assert/strict";
import { twilioBodySha256, twilioSignature, twilioSignedString } from "../../sandbox/sign.ts";
import {
  twilioParamsFromForm,
  twilioUrlSpellings,
  verifyTwilioSignature,
  verifyTwilioSignatureWithBody,
} from "../../functions/_shared/signatures/twilio.ts";

// twilio-node spec/validation.spec.js
const token = "12345";
const url = "https://mycompany.com/myapp.php?foo=1&bar=2";
const params = {
  CallSid: "CA1234567890ABCDE",
  Caller: "+14158675309",
  Digits: "1234",
  From: "+14158675309",
  To: "+18005551212",
};
const signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const jsonBody = '{"property": "value", "boolean": true}';
const jsonBodyHash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const jsonUrl = `${url}&bodySHA256=${jsonBodyHash}`;
const jsonSignature = "a9nBmqA0ju/hNViExpshrM61xv4=";

Deno.test("twilio sign: reproduces the SDK's published vectors", async () => {
  assert.equal(await twilioSignature(token, url, params), signature);
  assert.equal(await twilioBodySha256(jsonBody), jsonBodyHash);
  assert.equal(await twilioSignature(token, jsonUrl, {}), jsonSignature);
  // A repeated name: values de-duplicated and sorted, whatever order they came in.
  const repeated = { Sid: "CA123", SidAccount: "AC123", Digits: ["5678", "1234", "1234"] };
  assert.equal(await twilioSignature(token, url, repeated), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
  assert.equal(
    await twilioSignature(token, url, {
      "MessagingBinding.Address": ["+1415xxxxxxx", "+1325xxxxxxx"],
    }),
    "83O6e2vORAoJHUNzJjDWN1jz+BA=",
  );
  // Twilio's "{}" vector for an empty JSON body.
  assert.equal(
    await twilioBodySha256("{}"),
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  );
});

Deno.test("twilio sign: names sort by code unit (uppercase first), no separators", () => {
  assert.equal(
    twilioSignedString("https://x.test/h", { b: "2", B: "1", a: "", A: ["z", "y", "z"] }),
    "https://x.test/hAyAzB1ab2",
  );
});

Deno.test("twilio verify: accepts the SDK's published vectors", async () => {
  assert.equal(await verifyTwilioSignature(token, signature, url, params), true);
  assert.equal(await verifyTwilioSignatureWithBody(token, jsonSignature, jsonUrl, jsonBody), true);
  const emptyUrl =
    `${url}&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`;
  assert.equal(
    await verifyTwilioSignatureWithBody(token, "Ldidvp12m26NI7eqEvxnEpkd9Hc=", emptyUrl, "{}"),
    true,
  );
  const shortUrl = `https://mycompany.com/myapp.php?bodySHA256=${jsonBodyHash}`;
  assert.equal(
    await verifyTwilioSignatureWithBody(token, "y77kIzt2vzLz71DgmJGsen2scGs=", shortUrl, jsonBody),
    true,
  );
  // Repeated names, values in either order.
  for (const addresses of [["+1325xxxxxxx", "+1415xxxxxxx"], ["+1415xxxxxxx", "+1325xxxxxxx"]]) {
    assert.equal(
      await verifyTwilioSignature(token, "83O6e2vORAoJHUNzJjDWN1jz+BA=", url, {
        "MessagingBinding.Address": addresses,
      }),
      true,
    );
  }
});

Deno.test("twilio verify: the SDK's four URL spellings, per its published vectors", async () => {
  const http = url.replace("https", "http");
  // Signed with the default port added (:443, :80), checked against the URL without it.
  assert.equal(
    await verifyTwilioSignature(token, "kvajT1Ptam85bY51eRf/AJRuM3w=", url, params),
    true,
  );
  assert.equal(
    await verifyTwilioSignature(token, "0ZXoZLH/DfblKGATFgpif+LLRf4=", http, params),
    true,
  );
  // Signed without a port, checked against the URL with :443 or any other port (the SDK strips it).
  for (const withPort of [url.replace(".com", ".com:443"), url.replace(".com", ".com:1234")]) {
    assert.equal(await verifyTwilioSignature(token, signature, withPort, params), true);
  }
  // Signed with a non-default port, checked with it.
  assert.equal(
    await verifyTwilioSignature(
      token,
      "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
      http.replace(".com", ".com:1234"),
      params,
    ),
    true,
  );
  // Credentials in the URL, with and without the port added.
  const withCredentials = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
  for (const sig of ["CukzLTc1tT5dXEDIHm/tKBanW10=", "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="]) {
    assert.equal(await verifyTwilioSignature(token, sig, withCredentials, params), true);
  }
  assert.equal(
    await verifyTwilioSignature(
      token,
      "2YRLlVAflCqxaNicjMpJcSTgzSs=",
      "https://user@mycompany.com/myapp.php?foo=1&bar=2",
      params,
    ),
    true,
  );
  // Special characters in the query (the WHATWG re-encoding: ' becomes %27).
  assert.equal(
    await verifyTwilioSignature(
      token,
      "TfZzewPq8wqrGlMfyAud8+/IvJ0=",
      `${url}&Body=It's+amazing`,
      params,
    ),
    true,
  );
});

Deno.test("twilio verify: the spellings are exactly the SDK's", () => {
  assert.deepEqual(twilioUrlSpellings("https://mycompany.com/myapp.php?foo=1&bar=2"), [
    "https://mycompany.com/myapp.php?foo=1&bar=2",
    "https://mycompany.com:443/myapp.php?foo=1&bar=2",
  ]);
  assert.deepEqual(twilioUrlSpellings("http://127.0.0.1:54321/hook?Body=It's+ok"), [
    "http://127.0.0.1/hook?Body=It%27s+ok",
    "http://127.0.0.1:54321/hook?Body=It%27s+ok",
    "http://127.0.0.1/hook?Body=It's%20ok",
    "http://127.0.0.1:54321/hook?Body=It's%20ok",
  ]);
});

Deno.test("twilio: sign -> verify round trips, form fields included", async () => {
  const authToken = crypto.randomUUID().replaceAll("-", "");
  const hook = "http://127.0.0.1:54321/functions/v1/webhooks/twilio?message_id=7d1e1c1e";
  const form = new URLSearchParams(
    "MessageSid=SM0123&MessageStatus=delivered&ErrorCode=&Body=%E0%A4%A8%E0%A4%AE%E0%A4%B8%E0%A5%8D%E0%A4%A4%E0%A5%87&To=%2B919810150461&MediaUrl=b&MediaUrl=a",
  );
  const fields = twilioParamsFromForm(form);
  assert.deepEqual(fields.MediaUrl, ["b", "a"]);
  assert.equal(fields.ErrorCode, "");
  assert.equal(fields.Body, "नमस्ते");
  const sig = await twilioSignature(authToken, hook, fields);
  assert.equal(await verifyTwilioSignature(authToken, sig, hook, fields), true);

  const body = JSON.stringify({ MessageSid: "SM0123", MessageStatus: "read" });
  const jsonHook = `${hook}&bodySHA256=${await twilioBodySha256(body)}`;
  const jsonSig = await twilioSignature(authToken, jsonHook, {});
  assert.equal(await verifyTwilioSignatureWithBody(authToken, jsonSig, jsonHook, body), true);
});

Deno.test("twilio verify: refuses a missing header, a wrong token, altered params", async () => {
  assert.equal(await verifyTwilioSignature(token, null, url, params), false);
  assert.equal(await verifyTwilioSignature(token, "", url, params), false);
  assert.equal(await verifyTwilioSignature("54321", signature, url, params), false);
  assert.equal(await verifyTwilioSignature("", signature, url, params), false);
  assert.equal(await verifyTwilioSignature(token, signature.toLowerCase(), url, params), false);
  assert.equal(await verifyTwilioSignature(token, signature + "=", url, params), false);
  assert.equal(
    await verifyTwilioSignature(token, signature, url, { ...params, Digits: "1235" }),
    false,
  );
  assert.equal(
    await verifyTwilioSignature(token, signature, url, { ...params, MessageStatus: "" }),
    false,
  );
  const { To: _dropped, ...fewer } = params;
  assert.equal(await verifyTwilioSignature(token, signature, url, fewer), false);
  assert.equal(
    await verifyTwilioSignature(token, signature, url, { ...params, To: [params.To, "+1"] }),
    false,
  );
});

Deno.test("twilio verify: refuses any other URL", async () => {
  for (
    const other of [
      "http://mycompany.com/myapp.php?foo=1&bar=2", // scheme
      "https://mycompany.org/myapp.php?foo=1&bar=2", // host
      "https://www.mycompany.com/myapp.php?foo=1&bar=2",
      "https://mycompany.com/myapp.php/?foo=1&bar=2", // path
      "https://mycompany.com/MyApp.php?foo=1&bar=2",
      "https://mycompany.com/myapp.php?bar=2&foo=1", // query order
      "https://mycompany.com/myapp.php?foo=1&bar=3",
      "https://mycompany.com/myapp.php?foo=1&bar=2&x=",
      "https://mycompany.com/myapp.php?foo=1",
      "https://mycompany.com/myapp.php",
      "not a url",
      "",
    ]
  ) {
    assert.equal(await verifyTwilioSignature(token, signature, other, params), false, other);
  }
});

Deno.test("twilio verify (JSON body): refuses an altered body or a missing bodySHA256", async () => {
  assert.equal(
    await verifyTwilioSignatureWithBody(token, jsonSignature, jsonUrl, jsonBody + " "),
    false,
  );
  assert.equal(
    await verifyTwilioSignatureWithBody(
      token,
      jsonSignature,
      jsonUrl,
      '{"property": "value", "boolean": false}',
    ),
    false,
  );
  assert.equal(await verifyTwilioSignatureWithBody(token, signature, url, jsonBody), false);
  assert.equal(await verifyTwilioSignatureWithBody(token, null, jsonUrl, jsonBody), false);
  assert.equal(
    await verifyTwilioSignatureWithBody("54321", jsonSignature, jsonUrl, jsonBody),
    false,
  );
  // The signed URL with another body's hash swapped in.
  const swapped = `${url}&bodySHA256=${await twilioBodySha256("{}")}`;
  assert.equal(await verifyTwilioSignatureWithBody(token, jsonSignature, swapped, "{}"), false);
});

Deno.test("twilio verify: SharedKey HMAC-SHA256 when the settings header says so", async () => {
  const sharedKey = "shared-key-secret-0123456789abcdef";
  const settings = "key=KS0123456789abcdef0123456789abcdef,algorithm=HMAC_SHA256";
  const sha256 = await twilioSignature(sharedKey, url, params, "HMAC_SHA256");
  const options = { signatureSettings: settings, sharedKeySecret: sharedKey };
  assert.equal(await verifyTwilioSignature(token, sha256, url, params, options), true);
  assert.equal(
    await verifyTwilioSignature(token, sha256, url.replace(".com", ".com:443"), params, options),
    true,
  );
  // HMAC_SHA1 with the SharedKey is the other algorithm a Setting may name.
  const sha1 = await twilioSignature(sharedKey, url, params, "HMAC_SHA1");
  assert.equal(
    await verifyTwilioSignature(token, sha1, url, params, {
      signatureSettings: "key=KS0,algorithm=HMAC_SHA1",
      sharedKeySecret: sharedKey,
    }),
    true,
  );

  // Without the header the Auth Token and SHA-1 apply, so the SharedKey signature fails.
  assert.equal(
    await verifyTwilioSignature(token, sha256, url, params, { sharedKeySecret: sharedKey }),
    false,
  );
  // The header without a configured SharedKey, an unknown algorithm, the Auth Token's signature
  // under the header, a wrong SharedKey, an altered param.
  assert.equal(
    await verifyTwilioSignature(token, sha256, url, params, { signatureSettings: settings }),
    false,
  );
  assert.equal(
    await verifyTwilioSignature(token, sha256, url, params, {
      signatureSettings: "key=KS0,algorithm=HMAC_SHA512",
      sharedKeySecret: sharedKey,
    }),
    false,
  );
  assert.equal(
    await verifyTwilioSignature(token, sha256, url, params, {
      signatureSettings: "key=KS0",
      sharedKeySecret: sharedKey,
    }),
    false,
  );
  assert.equal(await verifyTwilioSignature(token, signature, url, params, options), false);
  assert.equal(
    await verifyTwilioSignature(token, sha256, url, params, {
      ...options,
      sharedKeySecret: sharedKey + "x",
    }),
    false,
  );
  assert.equal(
    await verifyTwilioSignature(token, sha256, url, { ...params, Digits: "0" }, options),
    false,
  );
});
