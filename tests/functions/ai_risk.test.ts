// POST /api/ai/risk-assessment against the real database and the vendor sandbox's OpenAI: the
// model's answer, the cache, every fallback (down, slow, malformed twice, over budget, flag off)
// with a valid rule-based answer, the rate limit's 429, who may ask about whom, bad bodies, the
// rules' wording and next best action, and no personal data in any prompt the sandbox received.
import assert from "node:assert/strict";
import type { z } from "zod";
import { zodResponseFormat } from "openai/helpers/zod";
import { config } from "../../functions/_shared/config.ts";
import type { CaseFacts, SubjectFacts } from "../../functions/api/ai/case_facts.ts";
import { riskPrompt } from "../../functions/api/ai/risk_model.ts";
import type { RiskAssessmentSchema } from "../../functions/api/ai/risk_routes.ts";
import {
  reasonSentence,
  ruleExplanation,
  ruleNextAction,
} from "../../functions/api/ai/risk_rules.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import {
  type AiCase,
  aiCase,
  type AiCaseOptions,
  aiRequestsOf,
  assertNoPersonalData,
  failPayment,
  freshAgent,
  openaiControl,
  openaiRequests,
  scoreAll,
  setReach,
  smsTemplate,
  spendDailyBudget,
  startAssistant,
  testTimeoutMs,
  type Unreachable,
} from "./_ai_subjects.ts";

/** An answer of POST /ai/risk-assessment. */
type RiskAnswer = z.infer<typeof RiskAssessmentSchema>;

const harness = await startAssistant();
const { sandbox } = harness;

/** Every case made here, for the prompt scan at the end. */
const made: AiCase[] = [];

/** A scored case of `agent` (a fresh agent's unless given), remembered for the prompt scan. */
async function scoredCase(agent: string, options: AiCaseOptions = {}): Promise<AiCase> {
  const one = await aiCase({ agent, ...options });
  made.push(one);
  await scoreAll();
  return one;
}

const assess = async (email: string, body: unknown) =>
  api("/ai/risk-assessment", { token: await tokenFor(email), method: "POST", body });

/** The answer's provenance and that its next best action is about one of `caseIds`. */
function assertAssessment(
  body: RiskAnswer,
  source: string,
  fallback: string | undefined,
  caseIds: string[],
) {
  assert.equal(body.source, source, JSON.stringify(body));
  assert.equal(body.fallback_reason, fallback);
  assert.ok(caseIds.includes(body.next_best_action.case_id ?? ""), "about the subject");
  assert.ok(body.explanation.length > 0 && body.next_best_action.text.length > 0);
  assert.doesNotMatch(JSON.stringify(body), /<customer>/, "the token is personalised");
}

/** The rules' answer of a one-case subject: its explanation states the stored score. */
async function assertRulesAnswer(body: RiskAnswer, one: AiCase) {
  const [stored] = await adminSql()`
    select score, band from public.case_risk_scores where case_id = ${one.caseId}`;
  assert.ok(
    body.explanation.includes(
      `Case ${one.caseNumber} (motor, due `,
    ) && body.explanation.includes(`lapse risk ${stored.score} of 100, ${stored.band}.`),
    body.explanation,
  );
  assert.equal(body.ai_request_id === null || typeof body.ai_request_id === "string", true);
}

dbTest(
  "risk: model up, the model's explanation and action; the same request again, the cache",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(agent, { daysToDue: 12 });
    await failPayment(one.caseId);
    await scoreAll();
    const before = (await openaiRequests(sandbox)).length;

    const first = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
    assertAssessment(first, "model", undefined, [one.caseId]);
    assert.match(first.explanation, /^Sandbox explanation [0-9a-f]{8}/, "the model's words");
    assert.equal(first.customer_id, one.customerId);
    const [stored] = await adminSql()`
    select score, band, reasons from public.case_risk_scores where case_id = ${one.caseId}`;
    assert.equal(first.cases.length, 1);
    assert.equal(first.cases[0].case_id, one.caseId);
    assert.deepEqual([first.cases[0].risk.score, first.cases[0].risk.band], [
      stored.score,
      stored.band,
    ]);
    assert.deepEqual(
      first.cases[0].risk.reasons.map((r: { feature: string }) => r.feature),
      stored.reasons.map((r: { feature: string }) => r.feature),
    );
    assert.ok(first.cases[0].risk.reasons.every((r: { text: string }) => r.text.length > 10));
    // The customer has a phone and an email: any action is open to the model, none is "none".
    assert.notEqual(first.next_best_action.action, "none");
    assert.equal((await openaiRequests(sandbox)).length, before + 1, "one call");

    const again = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
    assertAssessment(again, "cache", undefined, [one.caseId]);
    assert.equal(again.explanation, first.explanation);
    assert.deepEqual(again.next_best_action, first.next_best_action);
    assert.notEqual(again.ai_request_id, first.ai_request_id);
    assert.equal((await openaiRequests(sandbox)).length, before + 1, "no second call");

    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => [r.id, r.purpose, r.outcome, r.source, r.case_id]), [
      [first.ai_request_id, "risk_assessment", "ok", "model", one.caseId],
      [again.ai_request_id, "risk_assessment", "cached", "cache", one.caseId],
    ]);
    assert.equal(rows[0].customer_id, one.customerId);
  },
);

dbTest("risk: the model down (500) → the rules' answer, unavailable, 200", async () => {
  const agent = await freshAgent();
  const one = await scoredCase(agent, { daysToDue: 5 });
  await openaiControl(sandbox, { outage: true });
  try {
    const body = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
    assertAssessment(body, "rules", "unavailable", [one.caseId]);
    await assertRulesAnswer(body, one);
    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => [r.id, r.outcome, r.source]), [
      [body.ai_request_id, "error", "rules"],
    ]);
  } finally {
    await openaiControl(sandbox, { outage: false });
  }
});

dbTest("risk: the model slower than AI_TIMEOUT_MS → the rules' answer, timeout, 200", async () => {
  const agent = await freshAgent();
  const one = await scoredCase(agent, { daysToDue: 40 });
  await openaiControl(sandbox, { latencyMs: testTimeoutMs + 3000 });
  try {
    const started = performance.now();
    const body = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
    const took = performance.now() - started;
    assertAssessment(body, "rules", "timeout", [one.caseId]);
    await assertRulesAnswer(body, one);
    assert.ok(
      took < testTimeoutMs + 2500,
      `answered after the timeout, not the model (${took} ms)`,
    );
    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => r.outcome), ["timeout"]);
  } finally {
    await openaiControl(sandbox, { latencyMs: 0 });
  }
});

dbTest(
  "risk: a malformed answer is asked again once; malformed twice → the rules, invalid",
  async () => {
    const agent = await freshAgent();
    const once = await scoredCase(agent, { daysToDue: 20 });
    await openaiControl(sandbox, { failNext: { code: "malformed", count: 1 } });
    const retried = await expectJson(await assess(agent, { case_id: once.caseId }), 200);
    assertAssessment(retried, "model", undefined, [once.caseId]);

    const twice = await scoredCase(agent, { daysToDue: 21 });
    for (const malformed of ["json", "schema"]) {
      await openaiControl(sandbox, { malformed });
      try {
        const body = await expectJson(await assess(agent, { case_id: twice.caseId }), 200);
        assertAssessment(body, "rules", "invalid", [twice.caseId]);
        await assertRulesAnswer(body, twice);
      } finally {
        await openaiControl(sandbox, { malformed: false });
      }
    }
    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => [r.outcome, r.attempts]), [["ok", 2], ["invalid", 2], [
      "invalid",
      2,
    ]]);
  },
);

dbTest("risk: over the daily budget → the rules' answer, over_budget, 200, no call", async () => {
  const agent = await freshAgent();
  const one = await scoredCase(agent, { daysToDue: 9 });
  await spendDailyBudget(agent);
  const before = (await openaiRequests(sandbox)).length;
  const body = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
  assertAssessment(body, "rules", "over_budget", [one.caseId]);
  await assertRulesAnswer(body, one);
  assert.equal((await openaiRequests(sandbox)).length, before, "the model was not asked");
  const rows = await aiRequestsOf(agent);
  assert.deepEqual(rows.map((r) => r.outcome), ["ok", "over_budget"]);
  assert.equal(rows[1].id, body.ai_request_id);
});

dbTest(
  "risk: the assistant switched off (env flag, admins' setting) → rules, disabled, no row",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(agent, { daysToDue: 3 });
    const before = (await openaiRequests(sandbox)).length;
    const cfg = config();
    cfg.ENABLE_AI_ASSISTANT = false;
    try {
      const body = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
      assertAssessment(body, "rules", "disabled", [one.caseId]);
      assert.equal(body.ai_request_id, null);
      await assertRulesAnswer(body, one);
    } finally {
      cfg.ENABLE_AI_ASSISTANT = true;
    }
    await adminSql()`update public.app_settings set value = 'false'
                    where key = 'ENABLE_AI_ASSISTANT'`;
    try {
      const body = await expectJson(await assess(agent, { customer_id: one.customerId }), 200);
      assertAssessment(body, "rules", "disabled", [one.caseId]);
      assert.equal(body.ai_request_id, null);
    } finally {
      await adminSql()`update public.app_settings set value = 'true'
                      where key = 'ENABLE_AI_ASSISTANT'`;
    }
    assert.deepEqual(await aiRequestsOf(agent), [], "nothing recorded");
    assert.equal((await openaiRequests(sandbox)).length, before, "nothing sent");
  },
);

dbTest("risk: the N+1th request in a minute is 429 problem+json with Retry-After", async () => {
  const agent = await freshAgent();
  const one = await scoredCase(agent, { daysToDue: 30 });
  const [{ limit }] = await adminSql()`
    select (private.setting('AI_RATE_LIMIT_PER_MINUTE') #>> '{}')::integer as limit`;
  assert.ok(limit >= 1);
  for (let i = 0; i < limit; i++) {
    const body = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
    assert.equal(body.source, i === 0 ? "model" : "cache");
  }
  const refused = await assess(agent, { case_id: one.caseId });
  const problem = await expectProblem(refused, 429);
  const retryAfter = Number(refused.headers.get("retry-after"));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `${retryAfter}`);
  assert.match(problem.detail, /Too many AI requests/);
  const rows = await aiRequestsOf(agent);
  assert.equal(rows.length, limit + 1);
  assert.equal(rows.at(-1)!.outcome, "rate_limited");
  // Another user is not held back by this one's limit.
  const other = await freshAgent();
  const theirs = await scoredCase(other, { daysToDue: 31 });
  assert.equal((await assess(other, { case_id: theirs.caseId })).status, 200);
});

dbTest(
  "risk: another agent's case or customer is 404, and nothing is asked or written",
  async () => {
    const owner = await freshAgent();
    const one = await scoredCase(owner, { daysToDue: 14 });
    const before = (await openaiRequests(sandbox)).length;
    for (const stranger of ["gopal.agent@py360.test", "arjun.agent@py360.test"]) {
      for (const body of [{ case_id: one.caseId }, { customer_id: one.customerId }]) {
        const problem = await expectProblem(await assess(stranger, body), 404);
        assert.match(problem.detail, /No such (case|customer)/);
        assert.deepEqual(await aiRequestsOf(stranger), []);
      }
    }
    // Ids that exist nowhere: the same 404.
    await expectProblem(await assess(owner, { case_id: crypto.randomUUID() }), 404);
    await expectProblem(await assess(owner, { customer_id: crypto.randomUUID() }), 404);
    assert.equal((await openaiRequests(sandbox)).length, before);
  },
);

dbTest(
  "risk: personas: the branch manager and the admin may ask; another branch's manager and the analyst get 404",
  async () => {
    const owner = await freshAgent("DEL_CP_HEALTH");
    const one = await scoredCase(owner, { daysToDue: 16 });
    for (
      const allowed of ["cp.manager@py360.test", "north.manager@py360.test", "admin@py360.test"]
    ) {
      const body = await expectJson(await assess(allowed, { case_id: one.caseId }), 200);
      assert.ok(["model", "cache"].includes(body.source), `${allowed}: ${body.source}`);
      assert.equal(body.cases[0].case_id, one.caseId);
    }
    for (const refused of ["ggn.manager@py360.test", "analyst@py360.test"]) {
      await expectProblem(await assess(refused, { case_id: one.caseId }), 404);
      await expectProblem(await assess(refused, { customer_id: one.customerId }), 404);
      assert.deepEqual(await aiRequestsOf(refused), [], refused);
    }
  },
);

dbTest(
  "risk: bad bodies are 422 (or 400 / 415) problem+json, and nothing is asked or written",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(agent);
    const token = await tokenFor(agent);
    const before = (await openaiRequests(sandbox)).length;
    const bad: [unknown, string][] = [
      [{}, ""],
      [{ case_id: one.caseId, customer_id: one.customerId }, ""],
      [{ case_id: one.caseId, note: "x" }, ""],
      [{ case_id: "not-a-uuid" }, "case_id"],
      [{ customer_id: 42 }, "customer_id"],
      // A lone UTF-16 surrogate is no text at all.
      [{ case_id: "\ud800" }, "case_id"],
      [{ customer_id: `${one.customerId.slice(0, -1)}\udfff` }, "customer_id"],
      [[one.caseId], ""],
      [null, ""],
    ];
    for (const [body, path] of bad) {
      const problem = await expectProblem(
        await api("/ai/risk-assessment", { token, method: "POST", body: JSON.stringify(body) }),
        422,
      );
      assert.ok(
        problem.errors.some((e: { path: string }) => e.path === path),
        `${JSON.stringify(body)}: ${JSON.stringify(problem.errors)}`,
      );
    }
    await expectProblem(
      await api("/ai/risk-assessment", { token, method: "POST", body: "{not json" }),
      400,
    );
    const untyped = await api("/ai/risk-assessment", {
      token,
      method: "POST",
      body: JSON.stringify({ case_id: one.caseId }),
      contentType: null,
    });
    await expectProblem(untyped, 415);
    await expectProblem(
      await api("/ai/risk-assessment", { method: "POST", body: { case_id: one.caseId } }),
      401,
    );
    assert.deepEqual(await aiRequestsOf(agent), []);
    assert.equal((await openaiRequests(sandbox)).length, before);
  },
);

dbTest(
  "risk: a customer's open cases, riskiest first; only closed cases → the rules, unasked",
  async () => {
    const agent = await freshAgent();
    const calm = await scoredCase(agent, { daysToDue: 60 });
    // A second, riskier policy of the same customer: expired, a payment failed.
    const risky = await aiCase({ agent, daysToDue: -2, sameCustomerAs: calm });
    made.push(risky);
    await failPayment(risky.caseId);
    await scoreAll();
    const body = await expectJson(await assess(agent, { customer_id: calm.customerId }), 200);
    assert.deepEqual(body.cases.map((c: { case_id: string }) => c.case_id), [
      risky.caseId,
      calm.caseId,
    ]);
    assert.ok(body.cases[0].risk.score > body.cases[1].risk.score);
    assertAssessment(body, "model", undefined, [risky.caseId, calm.caseId]);

    // A customer whose only case is closed: no open case, nothing to ask the model.
    const closed = await scoredCase(agent, { daysToDue: 10 });
    await adminSql()`update public.renewal_cases set stage = 'lost', lost_reason = 'Sold the car'
                    where id = ${closed.caseId}`;
    const before = (await openaiRequests(sandbox)).length;
    const none = await expectJson(await assess(agent, { customer_id: closed.customerId }), 200);
    assert.deepEqual(none.cases, []);
    assert.equal(none.source, "rules");
    assert.equal(none.fallback_reason, undefined);
    assert.equal(none.ai_request_id, null);
    assert.equal(none.next_best_action.action, "none");
    assert.equal(none.next_best_action.case_id, null);
    assert.match(none.explanation, new RegExp(`^${closed.firstName} has no open renewal case`));
    const asCase = await expectJson(await assess(agent, { case_id: closed.caseId }), 200);
    assert.equal(asCase.cases[0].stage, "lost");
    assert.equal(asCase.cases[0].risk, null);
    assert.equal(asCase.next_best_action.action, "none");
    assert.equal((await openaiRequests(sandbox)).length, before, "nothing sent");
  },
);

/** The actions and channels the schema of a prompt the sandbox received offered: "action:channel". */
function offered(request: Record<string, unknown>): string[] {
  type Node = {
    enum?: (string | null)[];
    type?: string;
    anyOf?: Node[];
    properties?: Record<string, Node>;
  };
  const params = request.params as { response_format: { json_schema: { schema: Node } } };
  const next = params.response_format.json_schema.schema.properties!.next_best_action;
  const values = (node: Node): (string | null)[] =>
    node.anyOf ? node.anyOf.flatMap(values) : node.type === "null" ? [null] : node.enum!;
  return (next.anyOf ?? [next]).flatMap((branch) =>
    values(branch.properties!.action).flatMap((action) =>
      values(branch.properties!.channel).map((channel) => `${action}:${channel}`)
    )
  ).sort();
}

dbTest(
  "risk: no phone, no email, neither, everything suppressed or consent withdrawn: 200 from the model, offered only what reaches the customer",
  async () => {
    const sms = await smsTemplate();
    try {
      const calls = ["call:phone", "discuss_options:phone", "update_contact_details:null"];
      const contact = "update_contact_details:phone";
      const expected: [string, AiCaseOptions, Unreachable | undefined, string[]][] = [
        ["reachable", {}, undefined, [
          ...calls,
          contact,
          ...["whatsapp", "sms", "email"].flatMap((ch) => [
            `discuss_options:${ch}`,
            `send_payment_link:${ch}`,
            `send_reminder:${ch}`,
          ]),
        ]],
        ["no phone", { phone: null }, undefined, [
          "discuss_options:email",
          "send_payment_link:email",
          "send_reminder:email",
          "update_contact_details:null",
        ]],
        ["no email", { email: null }, undefined, [
          ...calls,
          contact,
          ...["whatsapp", "sms"].flatMap((ch) => [
            `discuss_options:${ch}`,
            `send_payment_link:${ch}`,
            `send_reminder:${ch}`,
          ]),
        ]],
        ["neither", { phone: null, email: null }, undefined, ["update_contact_details:null"]],
        ["suppressed", {}, "suppressed", [...calls, contact]],
        ["consent withdrawn", {}, "consent_withdrawn", [...calls, contact]],
      ];
      for (const [what, options, block, offers] of expected) {
        // An agent of its own each: the rate limit is ten a minute.
        const agent = await freshAgent();
        const one = await aiCase({ agent, daysToDue: 12, ...options });
        made.push(one);
        await setReach(one, block);
        await scoreAll();
        const before = (await openaiRequests(sandbox)).length;
        // The case, then its customer: the same facts, so the same prompt, from the cache.
        for (
          const [body, source] of [[{ case_id: one.caseId }, "model"], [{
            customer_id: one.customerId,
          }, "cache"]] as const
        ) {
          const answer = await expectJson(await assess(agent, body), 200);
          assertAssessment(answer, source, undefined, [one.caseId]);
          const next = answer.next_best_action;
          assert.ok(
            offers.includes(`${next.action}:${next.channel}`),
            `${what}: ${next.action} by ${next.channel}`,
          );
        }
        const asked = (await openaiRequests(sandbox)).slice(before);
        assert.equal(asked.length, 1, what);
        assert.deepEqual(offered(asked[0]), [...offers].sort(), what);
      }
      // The customer with neither: the rules say why, switched off (the admins' switch, the env).
      const agent = await freshAgent();
      const neither = await aiCase({ agent, daysToDue: 12, phone: null, email: null });
      made.push(neither);
      await scoreAll();
      await adminSql()`update public.app_settings set value = 'false'
                      where key = 'ENABLE_AI_ASSISTANT'`;
      try {
        const body = await expectJson(await assess(agent, { case_id: neither.caseId }), 200);
        assertAssessment(body, "rules", "disabled", [neither.caseId]);
        assert.deepEqual(
          [body.next_best_action.action, body.next_best_action.channel],
          ["update_contact_details", null],
        );
        assert.equal(
          body.next_best_action.text,
          `No message channel reaches ${neither.firstName} (WhatsApp: no address, SMS: no ` +
            "address, email: no address): confirm their mobile number, email and consent, then " +
            "send the renewal reminder again.",
        );
      } finally {
        await adminSql()`update public.app_settings set value = 'true'
                        where key = 'ENABLE_AI_ASSISTANT'`;
      }
      const cfg = config();
      cfg.ENABLE_AI_ASSISTANT = false;
      try {
        const body = await expectJson(
          await assess(agent, { customer_id: neither.customerId }),
          200,
        );
        assertAssessment(body, "rules", "disabled", [neither.caseId]);
      } finally {
        cfg.ENABLE_AI_ASSISTANT = true;
      }
      // Suppressed everywhere but callable: the rules call them, naming why.
      const blocked = await aiCase({ agent, daysToDue: 12 });
      made.push(blocked);
      await setReach(blocked, "suppressed");
      await scoreAll();
      await openaiControl(sandbox, { outage: true });
      try {
        const body = await expectJson(await assess(agent, { case_id: blocked.caseId }), 200);
        assertAssessment(body, "rules", "unavailable", [blocked.caseId]);
        assert.deepEqual(
          [body.next_best_action.action, body.next_best_action.channel],
          ["update_contact_details", "phone"],
        );
        assert.match(
          body.next_best_action.text,
          /^No message channel reaches \S+ \(WhatsApp: suppressed, SMS: suppressed, email: suppressed\): call them to confirm/,
        );
      } finally {
        await openaiControl(sandbox, { outage: false });
      }
    } finally {
      await sms.remove();
    }
  },
);

dbTest(
  "risk: a customer named with fact words (Case Motor) is still answered by the model",
  async () => {
    const agent = await freshAgent();
    const one = await aiCase({ agent, daysToDue: 6, fullName: "Case Motor" });
    await failPayment(one.caseId);
    await scoreAll();
    const answer = await expectJson(await assess(agent, { case_id: one.caseId }), 200);
    assertAssessment(answer, "model", undefined, [one.caseId]);
    assert.match(answer.explanation, /^Sandbox explanation [0-9a-f]{8}/, "the model's words");
    assert.equal(answer.cases[0].product_line, "motor");
    assert.equal(answer.next_best_action.case_id, one.caseId);
    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => [r.outcome, r.attempts]), [["ok", 1]], "valid at once");
  },
);

// ---- The rules, on facts built by hand ------------------------------------------------------

function caseFacts(overrides: Partial<CaseFacts> = {}): CaseFacts {
  return {
    case_id: "00000000-0000-4000-8000-000000000001",
    case_number: "RC-2026-000001",
    stage: "new",
    due_date: "2026-12-20",
    grace_end: "2026-12-20",
    days_to_expiry: 20,
    grace_days_left: 20,
    product_line: "motor",
    premium: 1_500_000,
    sum_insured: 60_000_000,
    payment_frequency: "annual",
    ncb_percent: 0,
    previous_premium: null,
    previous_sum_insured: null,
    outstanding: 1_500_000,
    overdue_installments: 0,
    failed_payments: 0,
    risk: {
      score: 40,
      band: "medium",
      model_version: "rules-2026-11",
      scored_at: "2026-11-30T00:40:00Z",
      reasons: [
        { feature: "product_line", value: "motor", weight: 6, direction: "raises" },
        { feature: "tenure_years", value: 3, weight: -6, direction: "lowers" },
      ],
    },
    ...overrides,
  };
}

function subject(cases: CaseFacts[], customer: Partial<SubjectFacts["customer"]> = {}) {
  return {
    today: "2026-11-30",
    customer: {
      id: "00000000-0000-4000-8000-0000000000c1",
      full_name: "Asha Verma",
      preferred_channel: null,
      has_phone: true,
      has_email: true,
      tenure_years: 3,
      whatsapp_window_open: false,
      blocked: {},
      ...customer,
    },
    cases,
    settings: { ncb_retention_days: 90, installment_loading_pct: null },
  } satisfies SubjectFacts;
}

const reason = (feature: string, value: unknown, weight: number) => ({
  feature,
  value,
  weight,
  direction: weight > 0 ? "raises" : "lowers",
});

Deno.test("risk rules: every feature of the scorecard has its own sentence", () => {
  const c = caseFacts({ grace_days_left: 25 });
  const sentences: [ReturnType<typeof reason>, string][] = [
    [reason("days_to_expiry", 12, 6), "The policy expires in 12 days"],
    [reason("days_to_expiry", 0, 12), "The policy expires today"],
    [reason("days_to_expiry", -5, 22), "The policy expired 5 days ago; 25 days of grace left"],
    [reason("overdue_installments", 1, 10), "1 installment past its due date"],
    [reason("failed_payments", 2, 24), "2 payment attempts failed"],
    [
      reason("late_installments_before", 3, 15),
      "3 installments of earlier renewals paid late or never",
    ],
    [reason("earlier_lapses", 1, 15), "<customer> let 1 earlier policy lapse or expire"],
    [
      reason("reminders_ignored", 4, 8),
      "4 reminders delivered in the last 60 days, none read, clicked or answered",
    ],
    [reason("messages_read", 2, -6), "<customer> read 2 messages in the last 60 days"],
    [reason("link_opened", 1, -12), "<customer> opened the renewal link once in the last 60 days"],
    [reason("replied", 3, -10), "<customer> wrote to us on WhatsApp 3 days ago"],
    [reason("premium_change_pct", 18.5, 9), "The premium rose 18.5% at the last renewal"],
    [reason("premium_change_pct", -8, -2), "The premium fell 8% at the last renewal"],
    [reason("ncb_at_stake_pct", 35, -11), "A no-claim bonus of 35% is at stake"],
    [reason("tenure_years", 0, 8), "<customer> has been with us less than a year"],
    [reason("tenure_years", 4, -8), "<customer> has been with us 4 years"],
    [reason("product_line", "motor", 6), "Motor policies lapse more often than most"],
    [reason("product_line", "life", -6), "Life policies renew more reliably than most"],
    [
      reason("reachable_channels", 0, 20),
      "No message channel reaches <customer> (addresses missing or suppressed)",
    ],
    [reason("stage", "payment_pending", -10), "The case is already awaiting payment"],
  ];
  for (const [r, sentence] of sentences) assert.equal(reasonSentence(r, c), sentence);
  assert.equal(
    reasonSentence(reason("days_to_expiry", -5, 30), caseFacts({ grace_days_left: -1 })),
    "The policy expired 5 days ago and its grace period is over",
  );
});

Deno.test("risk rules: the explanation states each case's score, band and reasons with points", () => {
  const c = caseFacts({
    risk: {
      ...caseFacts().risk!,
      score: 72,
      band: "high",
      reasons: [reason("failed_payments", 1, 12), reason("product_line", "motor", 6)],
    },
  });
  assert.equal(
    ruleExplanation(subject([c])),
    "Case RC-2026-000001 (motor, due 2026-12-20): lapse risk 72 of 100, high. 1 payment attempt " +
      "failed (+12 points). Motor policies lapse more often than most (+6 points).",
  );
  assert.equal(
    ruleExplanation(subject([caseFacts({ risk: null })])),
    "Case RC-2026-000001 (motor, due 2026-12-20) is not scored yet; scores are computed daily.",
  );
  assert.equal(ruleExplanation(subject([])), "<customer> has no open renewal case.");
});

Deno.test("risk rules: the next best action follows the first rule that applies", () => {
  const act = (c: Partial<CaseFacts>, customer: Partial<SubjectFacts["customer"]> = {}) =>
    ruleNextAction(subject([caseFacts(c)], customer));
  const high = { ...caseFacts().risk!, score: 70, band: "high" as const };
  // No way to reach the customer beats everything.
  assert.deepEqual(
    [act({ failed_payments: 1 }, { has_phone: false, has_email: false }).action],
    ["update_contact_details"],
  );
  assert.equal(
    act({
      risk: { ...high, reasons: [reason("reachable_channels", 0, 20)] },
    }).action,
    "update_contact_details",
  );
  const failed = act({ failed_payments: 2, days_to_expiry: -3 });
  assert.deepEqual([failed.action, failed.channel], ["call", "phone"]);
  assert.equal(
    failed.text,
    "2 payment attempts failed: call <customer> and send a fresh payment link for ₹15,000 on " +
      "WhatsApp.",
  );
  // Email only: no call, a link by email.
  assert.deepEqual(
    Object.values(act({ failed_payments: 1 }, { has_phone: false })).slice(1, 3),
    ["send_payment_link", "email"],
  );
  const expired = act({ days_to_expiry: -4, grace_days_left: 26, grace_end: "2026-12-26" });
  assert.deepEqual([expired.action, expired.channel], ["call", "phone"]);
  assert.match(expired.text, /expired 4 days ago, 26 days of grace left \(until 2026-12-26\)/);
  assert.equal(
    act({ risk: { ...high, reasons: [reason("reminders_ignored", 3, 8)] } }).action,
    "call",
  );
  assert.equal(act({ previous_premium: 1_250_000 }).action, "discuss_options"); // +20 %
  assert.equal(act({ previous_premium: 1_400_000 }).action, "send_reminder"); // +7.1 %
  assert.equal(act({ risk: high }).action, "call");
  const quoted = act({ stage: "quoted" }, { preferred_channel: "sms" });
  assert.deepEqual([quoted.action, quoted.channel], ["send_payment_link", "sms"]);
  assert.equal(quoted.text, "<customer> has the quote: send a payment link for ₹15,000 on SMS.");
  // A preferred channel that cannot reach the customer is not used.
  assert.equal(act({}, { preferred_channel: "email", has_email: false }).channel, "whatsapp");
  const low = act({ risk: { ...high, score: 20, band: "low" } });
  assert.deepEqual([low.action, low.channel], ["send_reminder", "whatsapp"]);
  assert.match(low.text, /^Lapse risk is low: let the reminder ladder run on WhatsApp/);
  const closed = ruleNextAction(subject([caseFacts({ stage: "renewed" })]));
  assert.deepEqual([closed.action, closed.channel, closed.text], [
    "none",
    null,
    "Case RC-2026-000001 is renewed: nothing to do.",
  ]);
});

Deno.test("risk model: the prompt carries no personal data; the schema offers only open cases and reachable channels; validate() refuses the rest", () => {
  const open = caseFacts();
  const other = caseFacts({ case_id: "00000000-0000-4000-8000-000000000002", stage: "lost" });
  const facts = subject([open, other], { has_email: false });
  const prompt = riskPrompt(facts, ruleNextAction(facts))!;
  const text = JSON.stringify(prompt.facts);
  for (const personal of ["Asha", "Verma", open.case_id, open.case_number, facts.customer.id]) {
    assert.ok(!text.includes(personal), personal);
  }
  assert.equal((prompt.facts.cases as unknown[]).length, 1, "only the open case");
  const answer = (next: Record<string, unknown>) => ({
    explanation: "Because.",
    next_best_action: { case: "case_1", action: "call", channel: "phone", text: "Call.", ...next },
  });
  const ok = answer({});
  assert.ok(prompt.schema.safeParse(ok).success);
  assert.equal(prompt.validate(ok as never), null);
  assert.deepEqual(prompt.nextAction(ok as never), {
    case_id: open.case_id,
    action: "call",
    channel: "phone",
    text: "Call.",
  });
  for (
    const wrong of [
      { case: "case_2" }, // not an open case
      { action: "send_reminder", channel: "email" }, // no email address
      { action: "call", channel: "whatsapp" }, // a call is by phone
      { action: "none", channel: null }, // nothing to do is not offered for an open case
    ]
  ) {
    const bad = answer(wrong);
    assert.equal(prompt.schema.safeParse(bad).success, false, JSON.stringify(wrong));
    assert.equal(typeof prompt.validate(bad as never), "string", JSON.stringify(wrong));
  }
});

Deno.test("risk model: every way of reaching the customer, or none, makes a schema strict structured outputs accept; nothing to choose, no prompt", () => {
  const reasons = [undefined, "suppressed", "consent_withdrawn", "whatsapp_not_opted_in"];
  let built = 0;
  for (const has_phone of [true, false]) {
    for (const has_email of [true, false]) {
      for (const whatsapp of reasons) {
        for (const sms of reasons) {
          for (const email of reasons) {
            const blocked = Object.fromEntries(
              Object.entries({ whatsapp, sms, email }).filter(([, why]) => why !== undefined),
            );
            const facts = subject([caseFacts()], { has_phone, has_email, blocked });
            const prompt = riskPrompt(facts, ruleNextAction(facts))!;
            const label = JSON.stringify({ has_phone, has_email, blocked });
            // The SDK's own conversion: it throws on an empty enum ("unsupported keyword 'not'").
            const format = zodResponseFormat(prompt.schema as never, "risk_assessment");
            assert.doesNotMatch(JSON.stringify(format.json_schema), /"not"|"enum":\[\]/, label);
            // The rules' action is among those the schema allows, whatever the reach.
            const rules = ruleNextAction(facts);
            const asModel = {
              explanation: "Because.",
              next_best_action: {
                case: "case_1",
                action: rules.action,
                channel: rules.channel,
                text: "Do it.",
              },
            };
            assert.ok(prompt.schema.safeParse(asModel).success, `${label}: ${rules.action}`);
            assert.equal(prompt.validate(asModel as never), null, label);
            built++;
          }
        }
      }
    }
  }
  assert.equal(built, 256);
  // Neither phone nor email: contact details only, with no channel; never a call.
  const none = subject([caseFacts()], { has_phone: false, has_email: false });
  const prompt = riskPrompt(none, ruleNextAction(none))!;
  const only = {
    explanation: "Because.",
    next_best_action: {
      case: "case_1",
      action: "update_contact_details",
      channel: null,
      text: "x",
    },
  };
  assert.ok(prompt.schema.safeParse(only).success);
  for (
    const [action, channel] of [["call", "phone"], ["send_reminder", "sms"], [
      "update_contact_details",
      "phone",
    ]]
  ) {
    const bad = { ...only, next_best_action: { ...only.next_best_action, action, channel } };
    assert.equal(prompt.schema.safeParse(bad).success, false, `${action} ${channel}`);
    assert.equal(typeof prompt.validate(bad as never), "string", `${action} ${channel}`);
  }
  // No open case: nothing to ask.
  const closed = subject([caseFacts({ stage: "renewed" })]);
  assert.equal(riskPrompt(closed, ruleNextAction(closed)), null);
  assert.equal(riskPrompt(subject([]), ruleNextAction(subject([]))), null);
});

// ---- Last: no personal data in any prompt the sandbox received ------------------------------

dbTest(
  "risk: no prompt the sandbox received holds a customer's phone, email, name, PAN or Aadhaar",
  async () => {
    const prompts = (await openaiRequests(sandbox)).filter((r) => r.template === "risk_assessment");
    assert.ok(prompts.length >= 8, `${prompts.length} prompts`);
    assert.ok(made.length >= 8);
    for (const prompt of prompts) {
      assertNoPersonalData(`${prompt.body}\n${JSON.stringify(prompt.params)}`, made);
    }
    // The stored prompts too (ai_requests.prompt), as the analysts read them.
    const stored = await adminSql()`
    select prompt::text as prompt from public.ai_requests
     where purpose = 'risk_assessment' and prompt is not null`;
    assert.ok(stored.length >= 8);
    for (const { prompt } of stored) {
      for (const one of made) {
        assert.ok(
          !(one.phone && prompt.includes(one.phone)) && !prompt.includes(one.fullName),
        );
      }
    }
  },
);

dbTest("risk: stop the sandbox", async () => {
  await harness.close();
});
