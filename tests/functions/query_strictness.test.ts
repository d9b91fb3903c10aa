// The issue-7 read endpoints refuse a query parameter they do not know (found by a review):
// `GET /api/communications/delivery-status?period=bogus` answered 200 with every message, so a
// mistyped filter silently returned everything. Each answers 422 problem+json naming the
// parameter (code unrecognized_keys, the name in its message), as a body with an unknown field
// does; the parameters the desk and the console send still pass.
import assert from "node:assert/strict";
import { api, createCase, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";

/** Asserts that `path` answers 422 with one unrecognized_keys issue naming `parameter`. */
async function refusesUnknown(path: string, token: string, parameter: string) {
  const problem = await expectProblem(await api(path, { token }), 422);
  const unknown = problem.errors.filter((e: { code: string }) => e.code === "unrecognized_keys");
  assert.equal(unknown.length, 1, `${path}: ${JSON.stringify(problem.errors)}`);
  assert.equal(unknown[0].message, `Unrecognized key: "${parameter}"`, path);
}

/** What the paths below need: a case of Farah's, the SMS channel, today. */
async function fixture() {
  const admin = await tokenFor("admin@py360.test");
  const { customerId, caseId } = await createCase("farah.agent@py360.test");
  const [channel] = (await expectJson(await api("/channels", { token: admin }), 200)).data
    .filter((c: { type: string }) => c.type === "sms");
  return { admin, customerId, caseId, channelId: channel.id, day: today() };
}

const today = () => new Date().toISOString().slice(0, 10);

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** Per endpoint: a query with a mistyped or unknown parameter, and that parameter. */
const unknownParameters: [string, (f: Fixture) => string, string][] = [
  ["GET /messages", (f) => `/messages?case_id=${f.caseId}&stauts=failed`, "stauts"],
  [
    "GET /communications/delivery-status",
    () => "/communications/delivery-status?period=bogus",
    "period",
  ],
  [
    "GET /vendors/communications",
    (f) => `/vendors/communications?from=${f.day}&period=bogus`,
    "period",
  ],
  [
    "GET /vendors/{id}/performance",
    () => "/vendors/twilio/performance?granularty=day",
    "granularty",
  ],
  [
    "GET /channels/{id}/performance",
    (f) => `/channels/${f.channelId}/performance?from=${f.day}&to=${f.day}&vendor=twilio`,
    "vendor",
  ],
  ["GET /templates", () => "/templates?chanel=sms", "chanel"],
];

for (const [endpoint, path, parameter] of unknownParameters) {
  dbTest(`queries: ${endpoint} refuses an unknown parameter, naming it`, async () => {
    const f = await fixture();
    await refusesUnknown(path(f), f.admin, parameter);
  });
}

dbTest("queries: several unknown parameters are each named", async () => {
  const f = await fixture();
  const two = await expectProblem(
    await api(`/communications/delivery-status?customer_id=${f.customerId}&period=x&sort=asc`, {
      token: f.admin,
    }),
    422,
  );
  assert.deepEqual(two.errors, [{
    path: "",
    code: "unrecognized_keys",
    message: 'Unrecognized keys: "period", "sort"',
  }]);
});

dbTest("queries: the parameters the desk and the console send still pass", async () => {
  const { admin, customerId, caseId, channelId, day } = await fixture();
  for (
    const path of [
      `/messages?case_id=${caseId}&limit=5`,
      `/messages?customer_id=${customerId}`,
      `/communications/delivery-status?customer_id=${customerId}&case_id=${caseId}&channel=sms` +
      `&status=failed,undeliverable&from=${day}&to=${day}&limit=10`,
      `/vendors/communications?from=${day}&to=${day}`,
      `/vendors/twilio/performance?from=${day}&to=${day}&granularity=day`,
      // The console's channel report (functions/console/static/console.js).
      `/channels/${channelId}/performance?from=${day}&to=${day}&granularity=day`,
      "/templates?code=renewal_due&channel=sms&language=en&active=true",
    ]
  ) {
    await expectJson(await api(path, { token: admin }), 200);
  }
});
