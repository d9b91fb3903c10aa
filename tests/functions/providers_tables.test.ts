// The providers' error-classification tables: every error code VENDORS.md documents for a
// vendor is in that vendor's table, and each code has the disposition the dispatch rules require.
import assert from "node:assert/strict";
import {
  classifyError,
  ruleFor,
  unknownErrorRule,
} from "../../functions/_shared/providers/classify.ts";
import {
  classifyVendorError,
  errorTables,
  type ProviderCode,
} from "../../functions/_shared/providers/mod.ts";
import type { Disposition } from "../../functions/_shared/providers/types.ts";

/**
 * The error codes VENDORS.md documents, per provider (§1 Twilio: Auth, Errors, Rate limit; §3
 * WhatsApp: Key codes and the envelope's example; §2 SES v1 and v2 errors and throttling; §9 SNS
 * Publish errors; §9 SendGrid statuses; §7 Telegram's error_code values). Written out here, as the sheet lives outside the
 * repository: a code added to the sheet is added here and then to its table.
 */
const documentedCodes: Record<ProviderCode, string[]> = {
  twilio: [
    "20003",
    "20429",
    "21211",
    "21408",
    "21608",
    "21610",
    "21612",
    "21614",
    "30003",
    "30005",
    "30006",
    "30007",
    "30008",
  ],
  whatsapp_cloud: [
    "4",
    "10",
    "100",
    "190",
    "200",
    "368",
    "80007",
    "130429",
    "131026",
    "131047",
    "131048",
    "131049",
    "131052",
    "131053",
    "131056",
    "132000",
    "132001",
  ],
  aws_ses: [
    "AccountSuspendedException",
    "BadRequestException",
    "LimitExceededException",
    "MailFromDomainNotVerifiedException",
    "MessageRejected",
    "NotFoundException",
    "SendingPausedException",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
  ],
  aws_sns: ["InvalidParameter", "Throttling"],
  sendgrid: ["400", "401", "403", "413", "429"],
  telegram: ["400", "403", "409", "429"],
};

Deno.test("provider tables: every code VENDORS.md documents is in its provider's table", () => {
  const missing = Object.entries(documentedCodes).flatMap(([provider, codes]) =>
    codes.filter((code) => !Object.hasOwn(errorTables[provider as ProviderCode], code))
      .map((code) => `${provider} ${code}`)
  );
  assert.deepEqual(missing, []);
});

/** The dispatch rules, code by code: [code, disposition, address dead]. */
const expected: Record<ProviderCode, [string, Disposition, boolean][]> = {
  twilio: [
    ["20003", "fallback", false],
    ["20429", "transient", false],
    ["21211", "permanent", true],
    ["21408", "fallback", false],
    ["21608", "fallback", false],
    ["21610", "fallback", false],
    ["21612", "fallback", false],
    ["21614", "permanent", true],
    ["30003", "transient", false],
    ["30004", "permanent", false],
    ["30005", "permanent", true],
    ["30006", "permanent", true],
    ["30007", "fallback", false],
    ["30008", "transient", false],
  ],
  aws_ses: [
    ["MessageRejected", "permanent", false],
    ["Throttling", "transient", false],
    ["ThrottlingException", "transient", false],
    ["TooManyRequestsException", "transient", false],
    ["LimitExceededException", "transient", false],
    ["BadRequestException", "permanent", false],
    ["MailFromDomainNotVerifiedException", "fallback", false],
    ["AccountSuspendedException", "fallback", false],
    ["SendingPausedException", "fallback", false],
    ["NotFoundException", "fallback", false],
    ["Bounce.Permanent", "permanent", true],
    ["Bounce.Transient", "transient", false],
    ["Complaint", "permanent", true],
  ],
  aws_sns: [
    ["InvalidParameter", "permanent", false],
    ["Throttling", "transient", false],
    ["AuthorizationError", "fallback", false],
    ["InternalError", "transient", false],
  ],
  sendgrid: [
    ["400", "permanent", false],
    ["401", "fallback", false],
    ["403", "fallback", false],
    ["413", "permanent", false],
    ["429", "transient", false],
    ["event.bounce", "permanent", true],
    ["event.spamreport", "permanent", true],
    ["event.deferred", "transient", false],
  ],
  whatsapp_cloud: [
    ["190", "fallback", false],
    ["10", "fallback", false],
    ["200", "fallback", false],
    ["100", "permanent", false],
    ["368", "fallback", false],
    ["130429", "transient", false],
    ["131056", "transient", false],
    ["131048", "fallback", false],
    ["131049", "fallback", false],
    ["131026", "fallback", false],
    ["131047", "fallback", false],
    ["131052", "permanent", false],
    ["131053", "permanent", false],
    ["132000", "permanent", false],
    ["132001", "permanent", false],
    ["4", "transient", false],
    ["80007", "transient", false],
  ],
  telegram: [
    ["429", "transient", false],
    ["403", "permanent", true],
    ["400", "permanent", false],
    ["401", "fallback", false],
    ["409", "transient", false],
    ["502", "transient", false],
  ],
};

for (const [provider, cases] of Object.entries(expected)) {
  Deno.test(`provider tables: ${provider} codes map to the dispatch rules`, () => {
    for (const [code, disposition, addressDead] of cases) {
      const result = classifyVendorError(provider as ProviderCode, code, "text");
      assert.equal(result.disposition, disposition, `${provider} ${code}`);
      assert.equal(result.addressDead ?? false, addressDead, `${provider} ${code} addressDead`);
      assert.equal(result.code, code);
    }
  });
}

Deno.test("provider tables: every documented code has a rule of its own and a reason", () => {
  for (const [provider, codes] of Object.entries(documentedCodes)) {
    for (const code of codes) {
      const rule = ruleFor(errorTables[provider as ProviderCode], code);
      assert.notEqual(rule, unknownErrorRule, `${provider} ${code}`);
      assert.ok(rule.reason.length > 5, `${provider} ${code} has a reason`);
    }
  }
});

Deno.test("provider tables: the issue's named codes fall where the dispatcher needs them", () => {
  // Retryable: 429-style throttles of each vendor.
  for (
    const [provider, code] of [
      ["twilio", "20429"],
      ["aws_ses", "Throttling"],
      ["whatsapp_cloud", "130429"],
      ["whatsapp_cloud", "131056"],
    ] as const
  ) {
    assert.equal(classifyVendorError(provider, code).disposition, "transient", code);
  }
  // WhatsApp → SMS on a closed window, an undeliverable number; 131049 never retried on WhatsApp.
  for (const code of ["131047", "131026", "131049"]) {
    assert.equal(classifyVendorError("whatsapp_cloud", code).disposition, "fallback", code);
  }
  // Twilio's own opt-out list (the customer replied STOP to our sender) refuses the recipient,
  // not the number: the SMS fallback carries it, and the number is not suppressed.
  const stop = classifyVendorError("twilio", "21610");
  assert.deepEqual([stop.disposition, stop.addressDead ?? false], ["fallback", false]);
  // Fail at once.
  for (
    const [provider, code] of [
      ["twilio", "21211"],
      ["aws_ses", "MessageRejected"],
      ["whatsapp_cloud", "132001"],
    ] as const
  ) {
    assert.equal(classifyVendorError(provider, code).disposition, "permanent", code);
  }
});

Deno.test("provider tables: an unknown code is retried, never suppresses the address", () => {
  for (const provider of Object.keys(errorTables) as ProviderCode[]) {
    const result = classifyVendorError(provider, "99999999", "something new");
    assert.equal(result.disposition, "transient");
    assert.equal(result.addressDead, undefined);
    assert.equal(result.code, "99999999");
    assert.match(result.message, /unclassified/);
  }
  // Object.prototype names are not table entries.
  assert.equal(ruleFor(errorTables.twilio, "toString"), unknownErrorRule);
  assert.equal(ruleFor(errorTables.twilio, "constructor"), unknownErrorRule);
});

Deno.test("provider tables: an error's text refines a code that covers several cases", () => {
  assert.equal(
    classifyVendorError("aws_ses", "Throttling", "Maximum sending rate exceeded.").disposition,
    "transient",
  );
  // The daily quota does not come back within a retry's backoff: the fallback sends it.
  assert.equal(
    classifyVendorError("aws_ses", "Throttling", "Daily message quota exceeded.").disposition,
    "fallback",
  );
  const badNumber = classifyVendorError(
    "aws_sns",
    "InvalidParameter",
    "Invalid parameter: PhoneNumber Reason: +91000 is not valid to publish to",
  );
  assert.deepEqual([badNumber.disposition, badNumber.addressDead], ["permanent", true]);
  const badAttribute = classifyVendorError("aws_sns", "InvalidParameter", "Invalid SenderID");
  assert.deepEqual([badAttribute.disposition, badAttribute.addressDead], ["permanent", undefined]);
  const badTo = classifyVendorError(
    "sendgrid",
    "400",
    "personalizations.0.to.0.email: Does not contain a valid address.",
  );
  assert.equal(badTo.addressDead, true);
  assert.equal(classifyVendorError("sendgrid", "400", "subject: required").addressDead, undefined);
  assert.equal(
    classifyVendorError("sendgrid", "event.dropped", "Bounced Address").addressDead,
    true,
  );
  // An address on SendGrid's unsubscribe list opted out; it is not dead (nothing suppressed).
  const unsubscribed = classifyVendorError("sendgrid", "event.dropped", "Unsubscribed Address");
  assert.deepEqual([unsubscribed.disposition, unsubscribed.addressDead], ["permanent", undefined]);
});

Deno.test("provider tables: the vendor's wait hint wins over the table's, which fills in", () => {
  const table = errorTables.whatsapp_cloud;
  assert.equal(classifyError(table, "131056", "pair rate").retryAfterMs, 6_000);
  assert.equal(classifyError(table, "131056", "pair rate", 1_500).retryAfterMs, 1_500);
  assert.equal(classifyError(table, "130429", "throughput").retryAfterMs, undefined);
  assert.equal(classifyError(errorTables.twilio, "20429", "", 2_000).retryAfterMs, 2_000);
});
