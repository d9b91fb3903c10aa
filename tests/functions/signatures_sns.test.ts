// AWS SNS message signatures. VENDORS.md gives no published SNS vector (AWS's own validator tests
// sign with a key made at run time), so each side is checked against a third party instead: the
// verifier (functions/_shared/signatures/sns.ts) against messages signed with an openssl-made key
// and certificate over canonical strings written out by hand from VENDORS.md §2; the signer
// (sandbox/sign.ts) by those hand-written strings and by node:crypto reading its certificate.
// Then sign -> verify round trips, the certificate cache, and every refusal.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createSign, X509Certificate } from "node:crypto";
import { snsCanonicalString, snsSigner } from "../../sandbox/sign.ts";
import {
  awsSnsCertUrlPattern,
  createSnsVerifier,
  snsCertUrlPatternUnder,
  type SnsVerification,
} from "../../functions/_shared/signatures/sns.ts";

const certUrl =
  "https://sns.ap-south-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem";
const topicArn = "arn:aws:sns:ap-south-1:123456789012:ses-events";
const sesEvent = JSON.stringify({
  eventType: "Delivery",
  mail: { messageId: "0109017e25edab6a-296197bf-50c0-4754-91e7-7f13e59acf60-000000" },
  delivery: { recipients: ["रमेश@example.test"] },
});

function notification(extra: Record<string, string> = {}): Record<string, string> {
  return {
    Type: "Notification",
    MessageId: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    TopicArn: topicArn,
    Message: sesEvent,
    Timestamp: "2026-05-01T10:20:30.123Z",
    SignatureVersion: "1",
    SigningCertURL: certUrl,
    UnsubscribeURL:
      `https://sns.ap-south-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${topicArn}:c9135db0`,
    ...extra,
  };
}

function confirmation(extra: Record<string, string> = {}): Record<string, string> {
  return {
    Type: "SubscriptionConfirmation",
    MessageId: "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    Token: "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3",
    TopicArn: topicArn,
    Message: `You have chosen to subscribe to the topic ${topicArn}.`,
    SubscribeURL:
      `https://sns.ap-south-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${topicArn}&Token=2336`,
    Timestamp: "2026-05-01T10:20:30.123Z",
    SignatureVersion: "1",
    SigningCertURL: certUrl,
    ...extra,
  };
}

/** Signs `message` with `sign` and returns the message with its Signature. */
async function signed(
  signer: { sign(message: Record<string, string>, version: "1" | "2"): Promise<string> },
  message: Record<string, string>,
): Promise<Record<string, string>> {
  const { Signature: _old, ...fields } = message;
  const version = fields.SignatureVersion as "1" | "2";
  return { ...fields, Signature: await signer.sign(fields, version) };
}

/** A verifier whose certificate fetches are answered from `certificates` and counted. */
function verifierWith(certificates: Record<string, string>, pattern?: RegExp) {
  const fetched: string[] = [];
  const verifyMessage = createSnsVerifier({
    certUrlPattern: pattern,
    fetchCertificate: (url) => {
      fetched.push(url);
      const pem = certificates[url];
      return pem ? Promise.resolve(pem) : Promise.reject(new Error("404"));
    },
  });
  return { verifyMessage, fetched };
}

function refused(result: SnsVerification, reason: RegExp) {
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.reason, reason);
}

const sharedSigner = snsSigner();

Deno.test("sns sign: canonical strings in VENDORS.md's order, written out by hand", () => {
  assert.equal(
    snsCanonicalString(notification({ Subject: "Amazon SES Email Event Notification" })),
    `Message\n${sesEvent}\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n` +
      "Subject\nAmazon SES Email Event Notification\n" +
      `Timestamp\n2026-05-01T10:20:30.123Z\nTopicArn\n${topicArn}\nType\nNotification\n`,
  );
  // No Subject: skipped, not signed as empty. SigningCertURL, UnsubscribeURL are never signed.
  assert.equal(
    snsCanonicalString(notification()),
    `Message\n${sesEvent}\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n` +
      `Timestamp\n2026-05-01T10:20:30.123Z\nTopicArn\n${topicArn}\nType\nNotification\n`,
  );
  const c = confirmation();
  assert.equal(
    snsCanonicalString(c),
    `Message\n${c.Message}\nMessageId\n${c.MessageId}\nSubscribeURL\n${c.SubscribeURL}\n` +
      `Timestamp\n${c.Timestamp}\nToken\n${c.Token}\nTopicArn\n${topicArn}\n` +
      "Type\nSubscriptionConfirmation\n",
  );
  assert.throws(() => snsCanonicalString({ ...c, Type: "Other" }), /unknown SNS message Type/);
});

Deno.test("sns sign: the certificate is a valid self-signed RSA X.509 that node:crypto reads", async () => {
  const signer = await sharedSigner;
  const certificate = new X509Certificate(signer.certificatePem);
  assert.equal(certificate.subject, "CN=sns.amazonaws.com");
  assert.equal(certificate.issuer, certificate.subject);
  assert.equal(certificate.verify(certificate.publicKey), true); // its own signature holds
  assert.equal(certificate.publicKey.asymmetricKeyType, "rsa");
  assert.equal(certificate.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  const now = Date.now();
  assert.ok(new Date(certificate.validFrom).getTime() <= now);
  assert.ok(new Date(certificate.validTo).getTime() > now + 300 * 86400_000);
  // Another signer: another key.
  const other = new X509Certificate((await snsSigner({ commonName: "other" })).certificatePem);
  assert.equal(other.subject, "CN=other");
  assert.equal(certificate.verify(other.publicKey), false);
});

Deno.test("sns verify: messages signed by openssl's key over hand-written strings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const made = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=sns.amazonaws.com",
        "-days",
        "2",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(made.code, 0, "the openssl CLI made a key and certificate");
    const privateKey = await Deno.readTextFile(`${dir}/key.pem`);
    const { verifyMessage } = verifierWith({
      [certUrl]: await Deno.readTextFile(`${dir}/cert.pem`),
    });
    const sign = (algorithm: string, text: string) =>
      createSign(algorithm).update(text, "utf8").sign(privateKey, "base64");

    const n = notification({ Subject: "Amazon SES Email Event Notification" });
    const nText = `Message\n${n.Message}\nMessageId\n${n.MessageId}\nSubject\n${n.Subject}\n` +
      `Timestamp\n${n.Timestamp}\nTopicArn\n${n.TopicArn}\nType\nNotification\n`;
    const v1 = await verifyMessage({ ...n, Signature: sign("RSA-SHA1", nText) });
    assert.equal(v1.ok, true, JSON.stringify(v1));
    const v2 = await verifyMessage({
      ...n,
      SignatureVersion: "2",
      Signature: sign("RSA-SHA256", nText),
    });
    assert.equal(v2.ok, true, JSON.stringify(v2));
    // The version names the hash: a SHA-256 signature presented as version "1" fails.
    refused(
      await verifyMessage({ ...n, SignatureVersion: "1", Signature: sign("RSA-SHA256", nText) }),
      /signature does not match/,
    );

    const c = confirmation();
    const cText = `Message\n${c.Message}\nMessageId\n${c.MessageId}\nSubscribeURL\n` +
      `${c.SubscribeURL}\nTimestamp\n${c.Timestamp}\nToken\n${c.Token}\nTopicArn\n` +
      `${c.TopicArn}\nType\nSubscriptionConfirmation\n`;
    const vc = await verifyMessage({ ...c, Signature: sign("RSA-SHA1", cText) });
    assert.equal(vc.ok, true, JSON.stringify(vc));
    // The confirmation signed in the Notification order (no SubscribeURL, no Token): refused.
    const wrongOrder = `Message\n${c.Message}\nMessageId\n${c.MessageId}\n` +
      `Timestamp\n${c.Timestamp}\nTopicArn\n${c.TopicArn}\nType\nSubscriptionConfirmation\n`;
    refused(
      await verifyMessage({ ...c, Signature: sign("RSA-SHA1", wrongOrder) }),
      /signature does not match/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sns: sign -> verify round trips, both versions, every type, JSON text or object", async () => {
  const signer = await sharedSigner;
  const { verifyMessage } = verifierWith({ [certUrl]: signer.certificatePem });
  const messages = [
    notification(),
    notification({ Subject: "Amazon SES Email Event Notification" }),
    confirmation(),
    confirmation({ Type: "UnsubscribeConfirmation" }),
  ];
  for (const message of messages) {
    for (const version of ["1", "2"]) {
      const posted = await signed(signer, { ...message, SignatureVersion: version });
      const result = await verifyMessage(posted);
      assert.equal(result.ok, true, `${message.Type} v${version}: ${JSON.stringify(result)}`);
      if (result.ok) {
        assert.equal(result.message.Type, message.Type);
        assert.equal(result.message.Message, message.Message);
        assert.equal(result.message.Subject, message.Subject);
        assert.equal(result.message.Token, message.Token);
        assert.equal(result.message.SignatureVersion, version);
      }
      // As the text/plain body arrives.
      assert.equal((await verifyMessage(JSON.stringify(posted))).ok, true);
    }
  }
});

Deno.test("sns verify: refuses a tampered message, any signed field", async () => {
  const signer = await sharedSigner;
  const { verifyMessage } = verifierWith({ [certUrl]: signer.certificatePem });
  const n = await signed(signer, notification({ Subject: "s" }));
  assert.equal((await verifyMessage(n)).ok, true);
  const tampered = [
    { Message: n.Message.replace("Delivery", "Bounce") },
    { Message: n.Message + " " },
    { MessageId: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf325" },
    { Subject: "S" },
    { Subject: "" },
    { Timestamp: "2026-05-01T10:20:31.123Z" },
    { TopicArn: topicArn + "2" },
    { Type: "SubscriptionConfirmation", SubscribeURL: "https://x", Token: "t" },
    { SignatureVersion: "2" },
    { Signature: n.Signature.slice(0, -4) + "AAA=" },
    { Signature: "" },
  ];
  for (const change of tampered) {
    const result = await verifyMessage({ ...n, ...change });
    assert.equal(result.ok, false, JSON.stringify(change));
  }
  const { Subject: _subject, ...withoutSubject } = n;
  refused(await verifyMessage(withoutSubject), /signature does not match/);
  // UnsubscribeURL is not signed (as at AWS): changing it leaves the signature valid.
  assert.equal((await verifyMessage({ ...n, UnsubscribeURL: "https://elsewhere" })).ok, true);

  const c = await signed(signer, confirmation());
  assert.equal((await verifyMessage(c)).ok, true);
  for (const change of [{ SubscribeURL: "https://attacker.test/confirm" }, { Token: "x" }]) {
    refused(await verifyMessage({ ...c, ...change }), /signature does not match/);
  }
  // The confirmation signed in the Notification's field order.
  const wrongOrder = snsCanonicalString({ ...c, Type: "Notification" })
    .replace("Type\nNotification\n", "Type\nSubscriptionConfirmation\n");
  refused(
    await verifyMessage({ ...c, Signature: await signer.signString(wrongOrder, "1") }),
    /signature does not match/,
  );
  // Signed by another key than the certificate's.
  const stranger = await snsSigner();
  refused(await verifyMessage(await signed(stranger, notification())), /does not match/);
});

Deno.test("sns verify: refuses a SignatureVersion other than the strings 1 and 2, before any fetch", async () => {
  const signer = await sharedSigner;
  const { verifyMessage, fetched } = verifierWith({ [certUrl]: signer.certificatePem });
  const n = await signed(signer, notification());
  for (const version of [1, 2, "3", "0", "01", "", " 1", null]) {
    refused(
      await verifyMessage({ ...n, SignatureVersion: version }),
      /SignatureVersion/,
    );
  }
  assert.deepEqual(fetched, []);
});

Deno.test("sns verify: refuses a missing required key", async () => {
  const signer = await sharedSigner;
  const { verifyMessage, fetched } = verifierWith({ [certUrl]: signer.certificatePem });
  const n = await signed(signer, notification());
  for (
    const key of [
      "Message",
      "MessageId",
      "Timestamp",
      "TopicArn",
      "Type",
      "Signature",
      "SigningCertURL",
      "SignatureVersion",
    ]
  ) {
    const { [key]: _gone, ...rest } = n;
    refused(await verifyMessage(rest), new RegExp(`missing required key ${key}`));
    refused(await verifyMessage({ ...n, [key]: 42 }), new RegExp(`missing required key ${key}`));
  }
  const c = await signed(signer, confirmation());
  for (const key of ["SubscribeURL", "Token"]) {
    const { [key]: _gone, ...rest } = c;
    refused(await verifyMessage(rest), new RegExp(`missing required key ${key}`));
  }
  refused(await verifyMessage({ ...n, Type: "Notice" }), /unknown message Type/);
  assert.deepEqual(fetched, []);
});

Deno.test("sns verify: fetches only certificate URLs that pass the pattern", async () => {
  const signer = await sharedSigner;
  const good = [
    certUrl,
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
  ];
  const bad = [
    certUrl.replace("https:", "http:"), // not https
    certUrl.replace(".pem", ".crt"), // not .pem
    certUrl.replace(".pem", ".pem.txt"),
    certUrl + "?x=.pem", // query
    certUrl + "#.pem", // fragment
    certUrl.replace("sns.ap-south-1.amazonaws.com", "sns.ap-south-1.amazonaws.com.evil.test"),
    certUrl.replace("sns.ap-south-1.amazonaws.com", "evil.test"),
    certUrl.replace("sns.ap-south-1.amazonaws.com", "sns.evil.test"),
    certUrl.replace("sns.ap-south-1.amazonaws.com", "s3.ap-south-1.amazonaws.com"),
    certUrl.replace("sns.ap-south-1.amazonaws.com", "sns.ap.amazonaws.com"), // region < 3
    certUrl.replace("sns.ap-south-1.amazonaws.com", "sns.ap-south-1.amazonaws.com:8443"),
    certUrl.replace("https://", "https://sns.ap-south-1.amazonaws.com@"), // userinfo
    certUrl.replace("https://", "https://user:pw@"),
    certUrl.replace("sns.ap-south-1", "SNS.ap-south-1"), // not canonical (host case)
    certUrl.replace("/Simple", "/x/../Simple"), // not canonical (dot segment)
    "https://sns.ap-south-1.amazonaws.com\\@evil.test/x.pem",
    "not a url",
    "",
  ];
  const certificates = Object.fromEntries(good.map((url) => [url, signer.certificatePem]));
  const { verifyMessage, fetched } = verifierWith(certificates);
  for (const url of good) {
    const result = await verifyMessage(await signed(signer, notification({ SigningCertURL: url })));
    assert.equal(result.ok, true, url);
  }
  assert.deepEqual(fetched, good);
  for (const url of bad) {
    const result = await verifyMessage(await signed(signer, notification({ SigningCertURL: url })));
    assert.equal(result.ok, false, url);
    if (!result.ok) assert.match(result.reason, /SigningCertURL/, url);
  }
  assert.deepEqual(fetched, good, "no refused URL was fetched");
  for (const url of good) assert.match(url, awsSnsCertUrlPattern);
});

Deno.test("sns verify: caches certificates per URL, shares concurrent fetches, not failures", async () => {
  const signer = await sharedSigner;
  let calls = 0;
  let failNext = true;
  const verifyMessage = createSnsVerifier({
    fetchCertificate: async (url) => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (url === certUrl && failNext) {
        failNext = false;
        throw new Error("connection reset");
      }
      return url.endsWith("garbage.pem") ? "not a certificate" : signer.certificatePem;
    },
  });
  const message = await signed(signer, notification());
  refused(await verifyMessage(message), /certificate could not be loaded/);
  assert.equal(calls, 1);
  // The failure was not cached: next time it is fetched again, then kept.
  const results = await Promise.all(Array.from({ length: 5 }, () => verifyMessage(message)));
  assert.deepEqual(results.map((result) => result.ok), [true, true, true, true, true]);
  assert.equal(calls, 2);
  assert.equal((await verifyMessage(message)).ok, true);
  assert.equal(calls, 2);
  const otherUrl = certUrl.replace(".pem", "-2.pem");
  assert.equal(
    (await verifyMessage(await signed(signer, notification({ SigningCertURL: otherUrl })))).ok,
    true,
  );
  assert.equal(calls, 3);
  const garbage = certUrl.replace(".pem", "garbage.pem");
  refused(
    await verifyMessage(await signed(signer, notification({ SigningCertURL: garbage }))),
    /certificate could not be loaded/,
  );
});

Deno.test("sns verify: never throws for bad input", async () => {
  const { verifyMessage, fetched } = verifierWith({});
  for (
    const [index, body] of [
      undefined,
      null,
      42,
      true,
      "not json",
      "[]",
      "null",
      [],
      {},
      { Type: {}, toString: null },
      Object.create(null),
    ].entries()
  ) {
    const result = await verifyMessage(body);
    assert.equal(result.ok, false, `bad body #${index}`);
  }
  // A message whose certificate URL passes but whose certificate cannot be had.
  refused(await verifyMessage(notification({ Signature: "AAAA" })), /could not be loaded/);
  assert.deepEqual(fetched, [certUrl]);
});

Deno.test("sns verify: the default fetcher over HTTP, with a pattern for a local server", async () => {
  const signer = await sharedSigner;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/aws/cert.pem") return new Response(signer.certificatePem);
    if (path === "/aws/moved.pem") {
      return new Response(null, { status: 302, headers: { location: "/aws/cert.pem" } });
    }
    return new Response("not found", { status: 404 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}/aws`;
    const verifyMessage = createSnsVerifier({ certUrlPattern: snsCertUrlPatternUnder(base) });
    const at = async (url: string) =>
      await verifyMessage(await signed(signer, notification({ SigningCertURL: url })));
    assert.equal((await at(`${base}/cert.pem`)).ok, true);
    refused(await at(`${base}/moved.pem`), /could not be loaded/); // redirects are not followed
    refused(await at(`${base}/missing.pem`), /could not be loaded/);
    refused(await at(`${base}/cert.txt`), /SigningCertURL/);
    refused(await at(`http://127.0.0.1:${server.addr.port}/other/cert.pem`), /SigningCertURL/);
    // The local pattern does not let AWS's own URLs through, nor the reverse.
    refused(await at(certUrl), /SigningCertURL/);
    assert.doesNotMatch(`${base}/cert.pem`, awsSnsCertUrlPattern);
  } finally {
    await server.shutdown();
  }
});

Deno.test("sns verify: a global RegExp as the pattern does not alternate between calls", async () => {
  const signer = await sharedSigner;
  const { verifyMessage } = verifierWith(
    { [certUrl]: signer.certificatePem },
    new RegExp(awsSnsCertUrlPattern.source, "g"),
  );
  const message = await signed(signer, notification());
  for (let i = 0; i < 3; i++) assert.equal((await verifyMessage(message)).ok, true);
});

Deno.test("sns sign: signatures are base64 RSA-2048 (256 bytes)", async () => {
  const signer = await sharedSigner;
  for (const version of ["1", "2"] as const) {
    const signature = await signer.sign(notification(), version);
    assert.equal(Buffer.from(signature, "base64").length, 256);
  }
});
