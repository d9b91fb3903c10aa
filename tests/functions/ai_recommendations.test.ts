// POST /api/ai/policy-recommendations against the real database and the vendor sandbox's
// OpenAI: the model ranks and words only the rules' options and cites only their facts; the
// cache; every fallback (down, slow, malformed twice, over budget, flag off) with the rules'
// options, exactly; the rate limit's 429; who may ask about whom; bad bodies; the rules
// themselves; and no personal data in any prompt the sandbox received.
import assert from "node:assert/strict";
import type { z } from "zod";
import { zodResponseFormat } from "openai/helpers/zod";
import { config } from "../../functions/_shared/config.ts";
import type { CaseFacts, SubjectFacts } from "../../functions/api/ai/case_facts.ts";
import { recommendationsPrompt } from "../../functions/api/ai/recommendation_model.ts";
import type { PolicyRecommendationsSchema } from "../../functions/api/ai/recommendation_routes.ts";
import {
  annualSaving,
  caseCandidates,
  factSheet,
  ruleSummary,
} from "../../functions/api/ai/recommendation_rules.ts";
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

/** An answer of POST /ai/policy-recommendations. */
type Answer = z.infer<typeof PolicyRecommendationsSchema>;

const harness = await startAssistant();
const { sandbox } = harness;

/** Every case made here, for the prompt scan at the end. */
const made: AiCase[] = [];

/**
 * A health policy paid half-yearly whose ₹5,00,000 sum insured has not changed since the last
 * term, nothing overdue: the rules offer paying yearly, renewing as it is, ₹7,50,000 and a super
 * top-up, in that order.
 */
const healthHalfYearly = (premium: number): AiCaseOptions => ({
  productLine: "health",
  premium,
  sumInsured: 50_000_000,
  frequency: "half_yearly",
  previous: { premium: premium - 100_000, sumInsured: 50_000_000 },
  daysToDue: 30,
});

/** A fresh agent's case, scored, remembered for the prompt scan. */
async function scoredCase(agent: string, options: AiCaseOptions = {}): Promise<AiCase> {
  const one = await aiCase({ agent, ...options });
  made.push(one);
  await scoreAll();
  return one;
}

const recommend = async (email: string, body: unknown) =>
  api("/ai/policy-recommendations", { token: await tokenFor(email), method: "POST", body });

/** The options the rules give a healthHalfYearly case, best first. */
const healthOptions = ["switch_to_annual", "keep", "raise_sum_insured", "add_super_top_up"];

/** The rules' answer for a healthHalfYearly case, exactly. */
function assertHealthRules(body: Answer, one: AiCase, reason: string | undefined) {
  assert.equal(body.source, "rules", JSON.stringify(body));
  assert.equal(body.fallback_reason, reason);
  assert.deepEqual(body.recommendations.map((r) => r.option), healthOptions);
  assert.ok(body.recommendations.every((r) => r.case_id === one.caseId));
  const [annual, keep, raise, topUp] = body.recommendations;
  const saving = annualSaving(one.premium, 2);
  assert.equal(annual.saving_paise, saving);
  assert.deepEqual(annual.cites, [
    { fact: "payment_frequency", value: "half_yearly" },
    { fact: "installments_per_year", value: 2 },
    { fact: "premium_paise", value: one.premium },
    { fact: "installment_loading_pct", value: 2 },
    { fact: "annual_saving_paise", value: saving },
  ]);
  const rupees = (paise: number) =>
    `₹${new Intl.NumberFormat("en-IN").format(Math.round(paise / 100))}`;
  assert.equal(
    annual.reason,
    `Paying ${rupees(one.premium - saving)} once a year instead of 2 half-yearly installments ` +
      `saves ${rupees(saving)} a year (installments cost 2% more) and leaves one payment to ` +
      "remember.",
  );
  assert.equal(keep.title, "Renew as it is");
  assert.equal(raise.proposed_sum_insured, 75_000_000);
  assert.equal(
    raise.reason,
    "The sum insured of ₹5,00,000 has not changed since the last term while hospital costs " +
      "rise every year: consider ₹7,50,000.",
  );
  assert.deepEqual(raise.cites.map((c) => c.fact), [
    "sum_insured_paise",
    "previous_sum_insured_paise",
  ]);
  assert.equal(topUp.title, "Add a super top-up");
  assert.equal(
    body.summary,
    `4 renewal options for ${one.firstName}, best first: pay yearly, renew as it is or raise ` +
      "the sum insured.",
  );
}

dbTest(
  "recommendations: model up, the model ranks and words only the rules' options; again, the cache",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(
      agent,
      healthHalfYearly(1_200_000 + Math.floor(Math.random() * 999)),
    );
    const before = (await openaiRequests(sandbox)).length;
    const first: Answer = await expectJson(await recommend(agent, { case_id: one.caseId }), 200);
    assert.equal(first.source, "model", JSON.stringify(first));
    assert.equal(first.fallback_reason, undefined);
    assert.match(first.summary, /^Sandbox summary [0-9a-f]{8}/);
    assert.ok(first.recommendations.length >= 1 && first.recommendations.length <= 4);
    const options = first.recommendations.map((r) => r.option);
    assert.equal(new Set(options).size, options.length, "each option once");
    const sheet: Record<string, unknown> = {
      payment_frequency: "half_yearly",
      installments_per_year: 2,
      premium_paise: one.premium,
      installment_loading_pct: 2,
      annual_saving_paise: annualSaving(one.premium, 2),
      sum_insured_paise: 50_000_000,
      previous_sum_insured_paise: 50_000_000,
      premium_change_pct: Math.round(1000 * 100_000 / (one.premium - 100_000)) / 10,
      days_to_expiry: 30,
      product_line: "health",
    };
    for (const r of first.recommendations) {
      assert.ok(healthOptions.includes(r.option), r.option);
      assert.equal(r.case_id, one.caseId);
      assert.match(r.reason, /^Sandbox reason [0-9a-f]{8}/, "the model's words");
      assert.ok(r.cites.length >= 1);
      for (const cite of r.cites) assert.equal(cite.value, sheet[cite.fact], cite.fact);
    }
    assert.equal((await openaiRequests(sandbox)).length, before + 1);

    const again: Answer = await expectJson(await recommend(agent, { case_id: one.caseId }), 200);
    assert.equal(again.source, "cache");
    assert.deepEqual(again.recommendations, first.recommendations);
    assert.equal(again.summary, first.summary);
    assert.equal((await openaiRequests(sandbox)).length, before + 1, "no second call");
    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => [r.id, r.purpose, r.outcome, r.case_id]), [
      [first.ai_request_id, "policy_recommendations", "ok", one.caseId],
      [again.ai_request_id, "policy_recommendations", "cached", one.caseId],
    ]);
  },
);

dbTest(
  "recommendations: down, slow, malformed twice, over budget, switched off → the rules' options, 200",
  async () => {
    const faults: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
      ["unavailable", { outage: true }, { outage: false }, "error"],
      ["timeout", { latencyMs: testTimeoutMs + 1500 }, { latencyMs: 0 }, "timeout"],
      ["invalid", { malformed: "schema" }, { malformed: false }, "invalid"],
    ];
    for (const [reason, on, off, outcome] of faults) {
      const agent = await freshAgent();
      const one = await scoredCase(
        agent,
        healthHalfYearly(1_300_000 + Math.floor(Math.random() * 999)),
      );
      await openaiControl(sandbox, on);
      try {
        const body: Answer = await expectJson(await recommend(agent, { case_id: one.caseId }), 200);
        assertHealthRules(body, one, reason);
        const rows = await aiRequestsOf(agent);
        assert.deepEqual(rows.map((r) => [r.id, r.outcome]), [[body.ai_request_id, outcome]]);
      } finally {
        await openaiControl(sandbox, off);
      }
    }

    const broke = await freshAgent();
    const poor = await scoredCase(
      broke,
      healthHalfYearly(1_400_000 + Math.floor(Math.random() * 999)),
    );
    await spendDailyBudget(broke);
    const before = (await openaiRequests(sandbox)).length;
    const overBudget: Answer = await expectJson(
      await recommend(broke, { customer_id: poor.customerId }),
      200,
    );
    assertHealthRules(overBudget, poor, "over_budget");
    assert.equal((await openaiRequests(sandbox)).length, before, "not asked");

    const off = await freshAgent();
    const quiet = await scoredCase(
      off,
      healthHalfYearly(1_500_000 + Math.floor(Math.random() * 999)),
    );
    const cfg = config();
    cfg.ENABLE_AI_ASSISTANT = false;
    try {
      const body: Answer = await expectJson(await recommend(off, { case_id: quiet.caseId }), 200);
      assertHealthRules(body, quiet, "disabled");
      assert.equal(body.ai_request_id, null);
    } finally {
      cfg.ENABLE_AI_ASSISTANT = true;
    }
    assert.deepEqual(await aiRequestsOf(off), []);
    assert.equal((await openaiRequests(sandbox)).length, before, "not asked");
  },
);

dbTest(
  "recommendations: a malformed answer is asked again once, then the model's answer stands",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(
      agent,
      healthHalfYearly(1_600_000 + Math.floor(Math.random() * 999)),
    );
    await openaiControl(sandbox, { failNext: { code: "malformed_schema", count: 1 } });
    const body: Answer = await expectJson(await recommend(agent, { case_id: one.caseId }), 200);
    assert.equal(body.source, "model");
    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => [r.outcome, r.attempts]), [["ok", 2]]);
  },
);

dbTest(
  "recommendations: the N+1th AI request in a minute is 429 with Retry-After, whatever the endpoint",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(agent, { daysToDue: 33 });
    const [{ limit }] = await adminSql()`
    select (private.setting('AI_RATE_LIMIT_PER_MINUTE') #>> '{}')::integer as limit`;
    // The limit counts every AI purpose together: one risk assessment, the rest recommendations.
    const token = await tokenFor(agent);
    assert.equal(
      (await api("/ai/risk-assessment", { token, method: "POST", body: { case_id: one.caseId } }))
        .status,
      200,
    );
    for (let i = 1; i < limit; i++) {
      assert.equal((await recommend(agent, { case_id: one.caseId })).status, 200);
    }
    const refused = await recommend(agent, { case_id: one.caseId });
    await expectProblem(refused, 429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `${retryAfter}`);
    const rows = await aiRequestsOf(agent);
    assert.equal(rows.at(-1)!.outcome, "rate_limited");
    assert.equal(rows.filter((r) => r.outcome !== "rate_limited").length, limit);
  },
);

dbTest(
  "recommendations: other agents, another branch's manager and the analyst get 404; the managers above and the admin may ask",
  async () => {
    const owner = await freshAgent("DEL_CP_HEALTH");
    const one = await scoredCase(owner, { daysToDue: 18 });
    for (
      const refused of ["gopal.agent@py360.test", "ggn.manager@py360.test", "analyst@py360.test"]
    ) {
      for (const body of [{ case_id: one.caseId }, { customer_id: one.customerId }]) {
        const problem = await expectProblem(await recommend(refused, body), 404);
        assert.match(problem.detail, /No such (case|customer)/);
      }
      assert.deepEqual(await aiRequestsOf(refused), [], refused);
    }
    for (
      const allowed of ["cp.manager@py360.test", "delhi.manager@py360.test", "admin@py360.test"]
    ) {
      const body: Answer = await expectJson(await recommend(allowed, { case_id: one.caseId }), 200);
      assert.ok(["model", "cache"].includes(body.source), allowed);
      assert.ok(body.recommendations.every((r) => r.case_id === one.caseId));
    }
  },
);

dbTest(
  "recommendations: bad bodies are 422 problem+json, and nothing is asked or written",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(agent);
    const token = await tokenFor(agent);
    const before = (await openaiRequests(sandbox)).length;
    for (
      const body of [
        {},
        { case_id: one.caseId, customer_id: one.customerId },
        { customer_id: one.customerId, limit: 3 },
        { case_id: "RC-2026-000001" },
        { case_id: null },
        "just text",
      ]
    ) {
      const problem = await expectProblem(
        await api("/ai/policy-recommendations", {
          token,
          method: "POST",
          body: JSON.stringify(body),
        }),
        422,
      );
      assert.ok(problem.errors.length >= 1, JSON.stringify(body));
    }
    await expectProblem(
      await api("/ai/policy-recommendations", { token, method: "POST", body: "{" }),
      400,
    );
    assert.deepEqual(await aiRequestsOf(agent), []);
    assert.equal((await openaiRequests(sandbox)).length, before);
  },
);

dbTest(
  "recommendations: no phone, no email, neither, everything suppressed or consent withdrawn: 200 from the model; the model down: the rules'",
  async () => {
    const sms = await smsTemplate();
    try {
      const variants: [string, AiCaseOptions, Unreachable | undefined][] = [
        ["reachable", {}, undefined],
        ["no phone", { phone: null }, undefined],
        ["no email", { email: null }, undefined],
        ["neither", { phone: null, email: null }, undefined],
        ["suppressed", {}, "suppressed"],
        ["consent withdrawn", {}, "consent_withdrawn"],
      ];
      for (const [what, options, block] of variants) {
        const agent = await freshAgent();
        const premium = 1_200_000 + Math.floor(Math.random() * 90_000) * 10;
        const one = await aiCase({ agent, ...healthHalfYearly(premium), ...options });
        made.push(one);
        await setReach(one, block);
        await scoreAll();
        for (const body of [{ case_id: one.caseId }, { customer_id: one.customerId }]) {
          const answer: Answer = await expectJson(await recommend(agent, body), 200);
          assert.ok(["model", "cache"].includes(answer.source), `${what}: ${answer.source}`);
          assert.equal(answer.fallback_reason, undefined, what);
          assert.ok(answer.recommendations.length > 0, what);
          for (const r of answer.recommendations) {
            assert.ok(healthOptions.includes(r.option), `${what}: ${r.option}`);
            assert.equal(r.case_id, one.caseId);
            assert.ok(r.cites.length > 0, what);
          }
        }
        assert.deepEqual(
          (await aiRequestsOf(agent)).map((r) => r.outcome),
          ["ok", "cached"],
          what,
        );
        await openaiControl(sandbox, { outage: true });
        try {
          const other = await aiCase({ agent, ...healthHalfYearly(premium + 10), ...options });
          made.push(other);
          await setReach(other, block);
          await scoreAll();
          const body = await expectJson(await recommend(agent, { case_id: other.caseId }), 200);
          assertHealthRules(body, other, "unavailable");
        } finally {
          await openaiControl(sandbox, { outage: false });
        }
      }
    } finally {
      await sms.remove();
    }
  },
);

dbTest(
  "recommendations: a customer named with fact words (Case Motor) is still answered by the model",
  async () => {
    const agent = await freshAgent();
    const one = await aiCase({
      agent,
      fullName: "Case Motor",
      productLine: "motor",
      ncb: 35,
      frequency: "monthly",
      daysToDue: 9,
    });
    await scoreAll();
    const answer: Answer = await expectJson(await recommend(agent, { case_id: one.caseId }), 200);
    assert.equal(answer.source, "model", JSON.stringify(answer));
    assert.equal(answer.fallback_reason, undefined);
    const allowed = ["protect_ncb", "switch_to_annual", "keep", "add_zero_depreciation"];
    assert.ok(answer.recommendations.length > 0);
    for (const r of answer.recommendations) {
      assert.ok(allowed.includes(r.option), r.option);
      assert.equal(r.case_id, one.caseId);
      assert.ok(r.cites.length > 0 && r.cites.every((c) => c.value !== undefined), r.option);
    }
    assert.doesNotMatch(JSON.stringify(answer), /<customer>/);
    const rows = await aiRequestsOf(agent);
    assert.deepEqual(rows.map((r) => [r.outcome, r.attempts]), [["ok", 1]], "valid at once");
  },
);

dbTest("recommendations: a closed case has none, and the model is not asked", async () => {
  const agent = await freshAgent();
  const one = await scoredCase(agent, { daysToDue: 8 });
  await adminSql()`update public.renewal_cases set stage = 'lost', lost_reason = 'Moved abroad'
                    where id = ${one.caseId}`;
  const before = (await openaiRequests(sandbox)).length;
  const byCase: Answer = await expectJson(await recommend(agent, { case_id: one.caseId }), 200);
  assert.deepEqual(byCase.recommendations, []);
  assert.deepEqual([byCase.source, byCase.fallback_reason, byCase.ai_request_id], [
    "rules",
    undefined,
    null,
  ]);
  assert.equal(byCase.summary, `Case ${one.caseNumber} is closed (lost): nothing to recommend.`);
  const byCustomer: Answer = await expectJson(
    await recommend(agent, { customer_id: one.customerId }),
    200,
  );
  assert.equal(
    byCustomer.summary,
    `${one.firstName} has no open renewal case: nothing to recommend.`,
  );
  assert.equal((await openaiRequests(sandbox)).length, before);
  assert.deepEqual(await aiRequestsOf(agent), []);
});

dbTest(
  "recommendations: a strained motor renewal (failed payment) offers a lower IDV first, the NCB, no add-on",
  async () => {
    const agent = await freshAgent();
    const one = await scoredCase(agent, {
      productLine: "motor",
      sumInsured: 48_000_000,
      ncb: 35,
      daysToDue: -4,
    });
    await failPayment(one.caseId);
    const cfg = config();
    cfg.ENABLE_AI_ASSISTANT = false;
    try {
      const body: Answer = await expectJson(await recommend(agent, { case_id: one.caseId }), 200);
      assert.deepEqual(body.recommendations.map((r) => r.option), [
        "lower_sum_insured",
        "protect_ncb",
        "keep",
      ]);
      const [lower, ncb] = body.recommendations;
      assert.equal(lower.title, "Lower the IDV");
      assert.equal(lower.proposed_sum_insured, 43_000_000);
      assert.equal(
        lower.reason,
        "1 payment attempt failed and 1 installment is overdue: an IDV of ₹4,30,000 instead of " +
          `₹4,80,000 lowers the premium and keeps ${one.firstName} covered.`,
      );
      assert.equal(
        ncb.reason,
        `${one.firstName} has earned a 35% no-claim bonus: renew within 86 days or it is lost, ` +
          "and add NCB protection so one claim does not reset it.",
      );
      assert.deepEqual(ncb.cites, [
        { fact: "ncb_percent", value: 35 },
        { fact: "days_to_expiry", value: -4 },
        { fact: "ncb_retention_days", value: 90 },
      ]);
    } finally {
      cfg.ENABLE_AI_ASSISTANT = true;
    }
  },
);

// ---- The rules and the model's limits, on facts built by hand --------------------------------

function caseFacts(overrides: Partial<CaseFacts> = {}): CaseFacts {
  return {
    case_id: "00000000-0000-4000-8000-000000000001",
    case_number: "RC-2026-000001",
    stage: "new",
    due_date: "2026-12-20",
    grace_end: "2026-12-20",
    days_to_expiry: 20,
    grace_days_left: 20,
    product_line: "health",
    premium: 2_000_000,
    sum_insured: 50_000_000,
    payment_frequency: "annual",
    ncb_percent: 0,
    previous_premium: 1_900_000,
    previous_sum_insured: 50_000_000,
    outstanding: 2_000_000,
    overdue_installments: 0,
    failed_payments: 0,
    risk: null,
    ...overrides,
  };
}

function subject(
  cases: CaseFacts[],
  loading: SubjectFacts["settings"]["installment_loading_pct"] = {
    half_yearly: 2,
    quarterly: 3,
    monthly: 5,
  },
): SubjectFacts {
  return {
    today: "2026-11-30",
    customer: {
      id: "00000000-0000-4000-8000-0000000000c1",
      full_name: "Asha Verma",
      preferred_channel: "whatsapp",
      has_phone: true,
      has_email: true,
      tenure_years: 4,
      whatsapp_window_open: false,
      blocked: {},
    },
    cases,
    settings: { ncb_retention_days: 90, installment_loading_pct: loading },
  };
}

const options = (c: CaseFacts, loading?: SubjectFacts["settings"]["installment_loading_pct"]) =>
  caseCandidates(c, subject([c], loading)).map((candidate) => candidate.option);

Deno.test("recommendation rules: the options follow the product line, the term before and the strain", () => {
  // Health, unchanged cover, nothing strained: keep, raise one step, a super top-up.
  assert.deepEqual(options(caseFacts()), ["keep", "raise_sum_insured", "add_super_top_up"]);
  // Health at ₹10 lakh with a new cover: no raise.
  assert.deepEqual(
    options(caseFacts({ sum_insured: 100_000_000, previous_sum_insured: 75_000_000 })),
    ["keep", "add_super_top_up"],
  );
  // A premium up 25 %: strained: a lower sum insured first, no raise, no add-on.
  const strained = caseFacts({ previous_premium: 1_600_000 });
  assert.deepEqual(options(strained), ["lower_sum_insured", "keep"]);
  assert.equal(caseCandidates(strained, subject([strained]))[0].proposed_sum_insured, 30_000_000);
  // The lowest health step has nothing below it.
  assert.deepEqual(options(caseFacts({ sum_insured: 30_000_000, failed_payments: 1 })), ["keep"]);
  // Life: no change of sum assured; a rider.
  assert.deepEqual(options(caseFacts({ product_line: "life", payment_frequency: "monthly" })), [
    "switch_to_annual",
    "keep",
    "add_accident_rider",
  ]);
  // Home, unchanged cover: 10 % more, rounded to ₹10,000.
  const home = caseFacts({
    product_line: "home",
    sum_insured: 40_000_000,
    previous_sum_insured: 40_000_000,
  });
  const raise = caseCandidates(home, subject([home])).find((c) =>
    c.option === "raise_sum_insured"
  )!;
  assert.equal(raise.proposed_sum_insured, 44_000_000);
  // Motor with an NCB and nothing strained: the NCB first, then keep, zero depreciation.
  assert.deepEqual(options(caseFacts({ product_line: "motor", ncb_percent: 20 })), [
    "protect_ncb",
    "keep",
    "add_zero_depreciation",
  ]);
  // The NCB lapsed with the retention days: no NCB to protect any more.
  assert.deepEqual(
    options(
      caseFacts({ product_line: "motor", ncb_percent: 50, days_to_expiry: -91 }),
    ).includes("protect_ncb"),
    false,
  );
  // A closed case: nothing.
  assert.deepEqual(options(caseFacts({ stage: "renewed" })), []);
});

Deno.test("recommendation rules: paying yearly quotes the saving from the loading, or none without one", () => {
  assert.equal(annualSaving(1_200_000, 2), 23_529);
  assert.equal(annualSaving(1_030_000, 3), 30_000);
  const quarterly = caseFacts({ payment_frequency: "quarterly", premium: 1_030_000 });
  const [annual] = caseCandidates(quarterly, subject([quarterly]));
  assert.equal(annual.option, "switch_to_annual");
  assert.equal(annual.saving_paise, 30_000);
  assert.equal(
    annual.reason,
    "Paying ₹10,000 once a year instead of 4 quarterly installments saves ₹300 a year " +
      "(installments cost 3% more) and leaves one payment to remember.",
  );
  for (const loading of [null, { quarterly: "3" as unknown as number }, { quarterly: 250 }]) {
    const [plain] = caseCandidates(quarterly, subject([quarterly], loading));
    assert.equal(plain.saving_paise, null, JSON.stringify(loading));
    assert.deepEqual(plain.facts, ["payment_frequency", "installments_per_year", "premium_paise"]);
    assert.equal(
      plain.reason,
      "One payment of ₹10,300 a year instead of 4 quarterly installments: no installment to " +
        "miss during the year.",
    );
  }
});

Deno.test("recommendation rules: every cited fact exists in the case's fact sheet, which holds no personal data", () => {
  const cases = [
    caseFacts(),
    caseFacts({ product_line: "motor", ncb_percent: 35, failed_payments: 1 }),
    caseFacts({ product_line: "home", payment_frequency: "half_yearly" }),
    caseFacts({ product_line: "life", previous_premium: null, previous_sum_insured: null }),
  ];
  for (const c of cases) {
    const facts = subject([c]);
    const sheet = factSheet(c, facts);
    const text = JSON.stringify(sheet);
    for (const personal of ["Asha", "Verma", c.case_id, c.case_number, facts.customer.id]) {
      assert.ok(!text.includes(personal), personal);
    }
    const candidates = caseCandidates(c, facts);
    assert.ok(candidates.length >= 1);
    for (const candidate of candidates) {
      assert.ok(candidate.facts.length >= 1, candidate.option);
      for (const key of candidate.facts) assert.ok(key in sheet, `${candidate.option}: ${key}`);
    }
  }
  const none = subject([]);
  assert.equal(ruleSummary(none, []), "<customer> has no open renewal case: nothing to recommend.");
});

Deno.test("recommendation model: the schema and validate() allow only the candidates, by id, each citing its own facts", () => {
  const motor = caseFacts({ product_line: "motor", ncb_percent: 35, payment_frequency: "monthly" });
  const health = caseFacts({ case_id: "00000000-0000-4000-8000-000000000002" });
  const facts = subject([motor, health]);
  const candidates = [...caseCandidates(motor, facts), ...caseCandidates(health, facts)];
  const prompt = recommendationsPrompt(facts, candidates)!;
  assert.deepEqual(prompt.candidates.map((p) => p.id), [
    "case_1.protect_ncb",
    "case_1.switch_to_annual",
    "case_1.keep",
    "case_1.add_zero_depreciation",
    "case_2.keep",
    "case_2.raise_sum_insured",
    "case_2.add_super_top_up",
  ]);
  const text = JSON.stringify(prompt.facts);
  for (const personal of ["Asha", "Verma", motor.case_id, health.case_id, motor.case_number]) {
    assert.ok(!text.includes(personal), personal);
  }
  assert.equal(prompt.factValues.get("case_1.ncb_percent"), 35);
  assert.equal(prompt.factValues.get("customer.tenure_years"), 4);

  const answer = (recommendations: unknown[]) => ({ summary: "Two options.", recommendations });
  const good = answer([
    { candidate_id: "case_1.protect_ncb", reason: "NCB.", cites: ["case_1.ncb_percent"] },
    { candidate_id: "case_2.keep", reason: "Keep.", cites: ["case_2.premium_paise"] },
  ]);
  assert.ok(prompt.schema.safeParse(good).success);
  assert.equal(prompt.validate(good as never), null);
  const wrong: [unknown, RegExp][] = [
    [
      { candidate_id: "case_1.lower_sum_insured", reason: "x", cites: ["case_1.premium_paise"] },
      /not a candidate/,
    ],
    [
      { candidate_id: "case_1.keep", reason: "x", cites: ["case_2.premium_paise"] },
      /not a fact of its candidate/,
    ],
    [{ candidate_id: "case_1.keep", reason: "x", cites: ["case_1.customer_name"] }, /not a fact/],
    [{ candidate_id: "case_2.keep", reason: "x", cites: [] }, /cites no fact/],
  ];
  for (const [bad, why] of wrong) {
    assert.equal(prompt.schema.safeParse(answer([bad])).success, false, JSON.stringify(bad));
    assert.match(String(prompt.validate(answer([bad]) as never)), why);
  }
  assert.equal(prompt.schema.safeParse(answer([])).success, false, "at least one");
});

Deno.test("recommendation model: a candidate with no fact to cite is left out of the schema; none left, no prompt", () => {
  const motor = caseFacts({ product_line: "motor", ncb_percent: 35, payment_frequency: "monthly" });
  const facts = subject([motor]);
  const candidates = caseCandidates(motor, facts);
  const bare = candidates.map((candidate, i) => i === 0 ? { ...candidate, facts: [] } : candidate);
  const prompt = recommendationsPrompt(facts, bare)!;
  assert.deepEqual(
    prompt.candidates.map((p) => p.id),
    candidates.slice(1).map((candidate) => `case_1.${candidate.option}`),
  );
  const format = zodResponseFormat(prompt.schema as never, "policy_recommendations");
  assert.doesNotMatch(JSON.stringify(format.json_schema), /"not"|"enum":\[\]/);
  assert.equal(
    recommendationsPrompt(facts, candidates.map((candidate) => ({ ...candidate, facts: [] }))),
    null,
  );
  assert.equal(recommendationsPrompt(facts, []), null);
  // A candidate of a case that is not open (or not the subject's) is not offered either.
  const closed = caseFacts({ case_id: "00000000-0000-4000-8000-000000000009", stage: "lost" });
  const stray = { ...candidates[0], case_id: closed.case_id };
  assert.equal(recommendationsPrompt(subject([motor, closed]), [stray]), null);
});

// ---- Last: no personal data in any prompt the sandbox received ------------------------------

dbTest(
  "recommendations: no prompt the sandbox received holds a customer's phone, email, name, PAN or Aadhaar",
  async () => {
    const prompts = (await openaiRequests(sandbox)).filter((r) =>
      r.template === "policy_recommendations"
    );
    assert.ok(prompts.length >= 6, `${prompts.length} prompts`);
    assert.ok(made.length >= 6);
    for (const prompt of prompts) {
      assertNoPersonalData(`${prompt.body}\n${JSON.stringify(prompt.params)}`, made);
    }
  },
);

dbTest("recommendations: stop the sandbox", async () => {
  await harness.close();
});
