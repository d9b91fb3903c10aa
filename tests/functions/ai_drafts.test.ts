// POST /api/ai/drafts against the sandbox's OpenAI: the draft in the customer's language on a
// channel that reaches them (else a 422 naming why), an SMS always the fill of a registered DLT
// template, WhatsApp a template outside the 24-hour window and free text inside it, email free
// text; the model's (and the cache's) draft, or the rules' when the assistant is off, down, slow,
// wrong or over budget; 429 over the rate limit; nothing sent, nothing written for a bad request,
// no personal data in any prompt.
import assert from "node:assert/strict";
import { DraftSchema } from "../../functions/api/ai/drafts_routes.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import {
  aiRows,
  aiTimeoutMs,
  assertNoPersonalData,
  consent,
  type DeskCustomer,
  deskCustomer,
  startAiDesk,
} from "./_ai_desk.ts";

const desk = await startAiDesk();
const agent = "farah.agent@py360.test";
const people: DeskCustomer[] = [];
const createdTemplates: string[] = [];

/** A fresh customer of Farah's, remembered for the prompt scan. */
async function customer(options: Parameters<typeof deskCustomer>[0] = {}) {
  const created = await deskCustomer(options);
  people.push(created);
  return created;
}

/** A template of the test (removed when the module ends); SMS on a registered DLT text. */
async function template(
  code: string,
  channel: "sms" | "whatsapp",
  language: string,
  body: string,
  { status = "approved" }: { status?: string } = {},
) {
  const sms = channel === "sms";
  const slots = (body.match(/\{\{/g) ?? []).length;
  const [row] = await adminSql()`
    insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                                  whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                                  dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
    values (${code}, ${channel}, ${language}, 'service', ${body},
            ${sms ? null : `${code}_${language}`}, ${sms ? null : "utility"},
            ${sms ? null : status}, ${sms ? null : slots},
            ${sms ? "1101234567890123456" : null}, ${sms ? "PYRNWL" : null},
            ${sms ? `1107${String(Date.now()).slice(-9)}${createdTemplates.length}` : null},
            ${sms ? body.replace(/\{\{\s*[a-z_]+\s*\}\}/g, "{#var#}") : null})
    returning id, dlt_text`;
  createdTemplates.push(row.id);
  return row as { id: string; dlt_text: string | null };
}

// The SMS and WhatsApp templates of the intents (only email ones are seeded: SMS and WhatsApp
// need the operator's own registrations). ncb_at_risk's SMS has the free {{message}} slot.
const smsExpired = await template(
  "renewal_expired",
  "sms",
  "en",
  "Dear {{customer_name}}, policy {{policy_number}} expired on {{expiry_date}}. Renew for " +
    "{{premium}}: call your agent. -PYRNWL",
);
const smsNcb = await template(
  "ncb_at_risk",
  "sms",
  "en",
  "Dear {{customer_name}}, renew {{policy_number}} by {{ncb_deadline}} to keep your " +
    "{{ncb_percent}}% NCB. {{message}} -PYRNWL",
);
await template(
  "renewal_due",
  "sms",
  "hi",
  "प्रिय {{customer_name}}, पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त होगी। प्रीमियम " +
    "{{premium}}। -PYRNWL",
);
await template(
  "renewal_due",
  "sms",
  "en",
  "Dear {{customer_name}}, policy {{policy_number}} expires on {{expiry_date}}. Premium " +
    "{{premium}}. -PYRNWL",
);
await template(
  "renewal_due",
  "whatsapp",
  "en",
  "Dear {{customer_name}}, your policy {{policy_number}} expires on {{expiry_date}}.",
);
await template(
  "case_quoted",
  "whatsapp",
  "en",
  "Dear {{customer_name}}, your quote for {{policy_number}} is {{premium}}.",
  { status: "pending" },
);

/** POST /ai/drafts as `email`. */
async function post(body: unknown, email = agent) {
  return await api("/ai/drafts", { token: await tokenFor(email), method: "POST", body });
}

/** A draft (200), checked against the route's own schema. */
async function draftOf(body: Record<string, unknown>, email = agent) {
  const answer = await expectJson(await post(body, email), 200);
  DraftSchema.parse(answer);
  return answer;
}

/** The registered DLT text as a pattern: its text outside the slots, character for character. */
function dltPattern(dltText: string): RegExp {
  const parts = dltText.split("{#var#}").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join("(.*)")}$`, "s");
}

/** How many messages the customer has: a draft sends nothing. */
async function messagesOf(customerId: string): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from public.messages where customer_id = ${customerId}`;
  return row.n;
}

dbTest(
  "drafts: an email draft by the model, its placeholders filled here, linted; then the cache",
  async () => {
    await desk.reset();
    const c = await customer({ preferredChannel: "email" });
    const first = await draftOf({ case_id: c.caseId, intent: "reminder" });
    assert.equal(first.channel, "email");
    assert.equal(first.channel_reason, "preferred_channel");
    assert.equal(first.source, "model");
    assert.equal(first.fallback_reason, undefined);
    assert.equal(first.template_code, null);
    assert.equal(first.purpose, "service");
    assert.equal(first.language, "en");
    assert.ok(first.subject.length > 0 && first.body.length > 0);
    assert.doesNotMatch(first.body, /\{\{|\}\}/);
    assert.deepEqual(first.variables, {});
    assert.deepEqual(first.lint.errors, []);
    assert.equal(first.lint.estimated_cost_paise, "0.85");
    assert.equal(first.lint.characters, first.body.length);
    const prompts = await desk.prompts();
    assert.equal(prompts.length, 1);
    assert.equal(prompts[0].template, "email_draft");
    // The example the model is given is the template, with placeholders, not the values.
    assert.match(prompts[0].body, /\{\{policy_number\}\}/);
    assert.ok(!prompts[0].body.includes(c.policyNumber));

    const again = await draftOf({ case_id: c.caseId, intent: "reminder" });
    assert.equal(again.source, "cache");
    assert.equal(again.body, first.body);
    assert.equal((await desk.prompts()).length, 1);
    assert.equal(await messagesOf(c.customerId), 0, "a draft is not sent");
  },
);

dbTest("drafts: the rules' email is the template filled with the case's values", async () => {
  await desk.setting("ENABLE_AI_ASSISTANT", false);
  try {
    const c = await customer({ preferredChannel: "email" });
    const d = await draftOf({ case_id: c.caseId, intent: "reminder" });
    assert.equal(d.source, "rules");
    assert.equal(d.fallback_reason, "disabled");
    assert.equal(d.template_code, "renewal_due");
    const [expiry] = await adminSql()`
      select to_char(due_date, 'FMDD Mon YYYY') as day from public.renewal_cases
       where id = ${c.caseId}`;
    const premium = `₹${Math.floor(c.premium / 100).toLocaleString("en-IN")}`;
    assert.equal(d.subject, `Your policy ${c.policyNumber} expires on ${expiry.day}`);
    assert.equal(
      d.body,
      `Dear ${c.fullName}, your motor policy ${c.policyNumber} expires on ${expiry.day}. ` +
        `The renewal premium is ${premium}. Renew before it expires to stay covered; your ` +
        `agent can help (case ${c.caseNumber}).`,
    );
    assert.deepEqual(d.variables, {
      customer_name: c.fullName,
      policy_number: c.policyNumber,
      expiry_date: expiry.day,
      product_line: "motor",
      premium,
      case_number: c.caseNumber,
    });
    assert.deepEqual(d.lint.errors, []);
  } finally {
    await desk.setting("ENABLE_AI_ASSISTANT", true);
  }
});

dbTest(
  "drafts: an SMS is a DLT template the model chose and filled; it matches the registered text",
  async () => {
    await desk.reset();
    const c = await customer({ preferredChannel: "sms", daysToDue: -5, ncb: 35 });
    const d = await draftOf({ case_id: c.caseId, intent: "reminder" });
    assert.equal(d.channel, "sms");
    assert.equal(d.source, "model");
    assert.ok(["renewal_expired", "ncb_at_risk"].includes(d.template_code), d.template_code);
    const registered = d.template_code === "ncb_at_risk" ? smsNcb : smsExpired;
    assert.match(d.body, dltPattern(registered.dlt_text!));
    assert.deepEqual(d.lint.errors, []);
    // The rupee sign of {{premium}} is outside GSM-7: such an English SMS is UCS-2, and says so.
    assert.equal(d.lint.encoding, d.body.includes("₹") ? "UCS-2" : "GSM-7");
    if (d.body.includes("₹")) assert.match(d.lint.warnings.join(), /outside GSM-7/);
    assert.ok(d.lint.segments >= 1);
    if (d.template_code === "ncb_at_risk") {
      assert.ok(d.variables.message.length > 0 && d.variables.message.length <= 30);
    }
    const [prompt] = await desk.prompts();
    assert.equal(prompt.template, "template_draft");
    // The model chose among both templates, each offered with its text and slot.
    assert.match(prompt.body, /"code":"renewal_expired"/);
    assert.match(prompt.body, /"code":"ncb_at_risk"/);

    // The model down: the rules' SMS is the template without a free slot, filled.
    await desk.control({ outage: true });
    try {
      const c2 = await customer({ preferredChannel: "sms", daysToDue: -6, ncb: 25 });
      const rules = await draftOf({ case_id: c2.caseId, intent: "reminder" });
      assert.equal(rules.source, "rules");
      assert.equal(rules.fallback_reason, "unavailable");
      assert.equal(rules.template_code, "renewal_expired");
      assert.match(rules.body, dltPattern(smsExpired.dlt_text!));
      assert.ok(rules.body.startsWith(`Dear ${c2.fullName}, policy ${c2.policyNumber} expired on`));
      assert.deepEqual(rules.lint.errors, []);
      // ncb_at_risk alone: its {{message}} slot is left empty by the rules, and still fits.
      const ncb = await draftOf({ case_id: c2.caseId, intent: "ncb_at_risk", channel: "sms" });
      assert.equal(ncb.template_code, "ncb_at_risk");
      assert.equal(ncb.variables.message, "");
      assert.match(ncb.body, dltPattern(smsNcb.dlt_text!));
      assert.deepEqual(ncb.lint.errors, []);
    } finally {
      await desk.control({ outage: false });
    }
  },
);

dbTest("drafts: a Hindi customer gets a Hindi draft", async () => {
  await desk.reset();
  const c = await customer({ preferredChannel: "email", language: "hi" });
  // The model (the sandbox writes Latin letters) fails the script check twice: the Hindi
  // template, filled.
  const email = await draftOf({ case_id: c.caseId, intent: "reminder" });
  assert.equal(email.language, "hi");
  assert.equal(email.source, "rules");
  assert.equal(email.fallback_reason, "invalid");
  assert.equal(email.template_code, "renewal_due");
  assert.ok(email.body.startsWith(`प्रिय ${c.fullName}, आपकी motor पॉलिसी ${c.policyNumber}`));
  assert.match(email.subject, /समाप्त हो रही है/);
  assert.deepEqual(email.lint.errors, []);
  assert.equal((await desk.prompts()).length, 2, "asked, and asked once more");
  assert.match((await desk.prompts())[0].body, /"language_name":"Hindi"/);

  // SMS: the Hindi DLT template, the only one, so nothing to ask the model.
  const sms = await draftOf({ case_id: c.caseId, intent: "reminder", channel: "sms" });
  assert.equal(sms.language, "hi");
  assert.equal(sms.source, "rules");
  assert.equal(sms.fallback_reason, undefined);
  assert.equal(sms.ai_request_id, null);
  assert.ok(sms.body.startsWith(`प्रिय ${c.fullName}, पॉलिसी ${c.policyNumber}`));
  assert.equal(sms.lint.encoding, "UCS-2");
  assert.deepEqual(sms.lint.errors, []);
  assert.equal((await desk.prompts()).length, 2);
  // Asked in English, the English SMS.
  const english = await draftOf({
    case_id: c.caseId,
    intent: "reminder",
    channel: "sms",
    language: "en",
  });
  assert.equal(english.language, "en");
  assert.ok(english.body.startsWith(`Dear ${c.fullName}`));
});

dbTest(
  "drafts: the channel reaches the customer, else a 422 says why; nothing is sent",
  async () => {
    const c = await customer({ preferredChannel: "whatsapp" });
    // WhatsApp preferred but never opted in: the first channel that reaches them, and why.
    const d = await draftOf({ case_id: c.caseId, intent: "reminder" });
    assert.equal(d.channel, "sms");
    assert.equal(d.channel_reason, "first_allowed (whatsapp: whatsapp_not_opted_in)");
    const refused = async (channel: string, reason: string) => {
      const problem = await expectProblem(
        await post({ case_id: c.caseId, intent: "reminder", channel }),
        422,
      );
      assert.equal(problem.reason, reason, channel);
      assert.match(problem.detail, new RegExp(`${channel} now: ${reason}`));
    };
    await refused("whatsapp", "whatsapp_not_opted_in");
    await consent(c.customerId, "sms", "service", "withdrawn");
    await refused("sms", "consent_withdrawn");
    await adminSql()`
    insert into public.suppressions (channel, address, reason, source)
    values ('email', ${c.email!.toLowerCase()}, 'hard_bounce', 'test')`;
    await refused("email", "suppressed");
    const none = await expectProblem(await post({ case_id: c.caseId, intent: "reminder" }), 422);
    assert.deepEqual(none.reasons, {
      whatsapp: "whatsapp_not_opted_in",
      sms: "consent_withdrawn",
      email: "suppressed",
    });
    // No address at all.
    const noEmail = await customer({ email: null, preferredChannel: "email" });
    const problem = await expectProblem(
      await post({ case_id: noEmail.caseId, intent: "reminder", channel: "email" }),
      422,
    );
    assert.equal(problem.reason, "no_address");
    assert.equal(await messagesOf(c.customerId), 0);
  },
);

dbTest(
  "drafts: no phone, no email, neither, blocked everywhere: the channel that reaches them, else the 422 naming every channel's reason",
  async () => {
    await desk.reset();
    // No phone: email (the model's), after WhatsApp and SMS with no address.
    const noPhone = await customer({ phone: null, preferredChannel: "whatsapp" });
    const email = await draftOf({ case_id: noPhone.caseId, intent: "reminder" });
    assert.equal(email.channel, "email");
    assert.equal(email.channel_reason, "first_allowed (whatsapp: no_address, sms: no_address)");
    assert.equal(email.source, "model");
    assert.equal(email.fallback_reason, undefined);
    for (const channel of ["sms", "whatsapp"]) {
      const problem = await expectProblem(
        await post({ case_id: noPhone.caseId, intent: "reminder", channel }),
        422,
      );
      assert.equal(problem.reason, "no_address", channel);
    }
    // No email: SMS (WhatsApp not opted in), the one English DLT template: nothing to ask.
    const noEmail = await customer({ email: null, preferredChannel: "email" });
    const sms = await draftOf({ case_id: noEmail.caseId, intent: "reminder" });
    assert.equal(sms.channel, "sms");
    assert.equal(
      sms.channel_reason,
      "first_allowed (email: no_address, whatsapp: whatsapp_not_opted_in)",
    );
    assert.deepEqual([sms.source, sms.fallback_reason, sms.template_code], [
      "rules",
      undefined,
      "renewal_due",
    ]);
    assert.deepEqual(sms.lint.errors, []);
    // Neither, every address suppressed, every consent withdrawn: a 422 with each reason.
    const neither = await customer({ phone: null, email: null });
    const suppressed = await customer();
    await consent(suppressed.customerId, "whatsapp", "service", "granted");
    for (
      const [channel, address] of [["sms", suppressed.phone], ["whatsapp", suppressed.phone], [
        "email",
        suppressed.email!.toLowerCase(),
      ]]
    ) {
      await adminSql()`
        insert into public.suppressions (channel, address, reason, source)
        values (${channel}, ${address}, 'hard_bounce', 'test')`;
    }
    const withdrawn = await customer({ preferredChannel: "sms" });
    for (const channel of ["whatsapp", "sms", "email"] as const) {
      await consent(withdrawn.customerId, channel, "service", "withdrawn");
    }
    await desk.reset();
    for (
      const [c, reason] of [
        [neither, "no_address"],
        [suppressed, "suppressed"],
        [withdrawn, "consent_withdrawn"],
      ] as const
    ) {
      const problem = await expectProblem(
        await post({ case_id: c.caseId, intent: "reminder" }),
        422,
      );
      assert.equal(problem.title, "Channel Not Reachable");
      assert.deepEqual(problem.reasons, { whatsapp: reason, sms: reason, email: reason }, reason);
      assert.equal(await messagesOf(c.customerId), 0);
    }
    assert.equal((await desk.prompts()).length, 0, "nothing asked for a draft refused");
  },
);

dbTest(
  "drafts: only the languages drafts are written in; else a 422 naming language, nothing asked",
  async () => {
    await desk.reset();
    const c = await customer({ preferredChannel: "email" });
    const before = (await aiRows(agent)).length;
    const bad: [Record<string, unknown>, string][] = [
      [{ language: "xx" }, "language"],
      [{ language: "zz_ZZ" }, "language"],
      [{ language: "hi-GB" }, "language"],
      [{ language: "EN" }, "language"],
      [{ language: "" }, "language"],
      // A lone UTF-16 surrogate is no text: 422 naming the field, whichever it is.
      [{ language: "\ud800" }, "language"],
      [{ language: "h\udc00" }, "language"],
      [{ intent: "\ud800" }, "intent"],
      [{ channel: "email\ud800" }, "channel"],
      [{ case_id: `${c.caseId.slice(0, -1)}\ud800` }, "case_id"],
    ];
    for (const [change, path] of bad) {
      const body = { case_id: c.caseId, intent: "reminder", ...change };
      const problem = await expectProblem(await post(body), 422);
      assert.ok(
        problem.errors.some((e: { path: string }) => e.path === path),
        `${JSON.stringify(change)}: ${JSON.stringify(problem.errors)}`,
      );
    }
    assert.equal((await aiRows(agent)).length, before, "no AI request");
    assert.equal((await desk.prompts()).length, 0, "nothing asked");

    // Region variants of a supported language: the templates' base language.
    for (const language of ["hi-IN", "hi_IN"]) {
      const d = await draftOf({ case_id: c.caseId, intent: "reminder", channel: "sms", language });
      assert.equal(d.language, "hi", language);
      assert.ok(d.body.startsWith(`प्रिय ${c.fullName}`), language);
    }
    // An Indian language without templates: the model is asked to write it (the rules fall back
    // to English, as the gate does).
    const tamil = await draftOf({ case_id: c.caseId, intent: "reminder", language: "ta" });
    assert.equal(tamil.channel, "email");
    assert.match((await desk.prompts()).at(-1)!.body, /"language_name":"Tamil"/);
    assert.ok(["ta", "en"].includes(tamil.language));
    // A customer whose stored language drafts are not written in: English, never asked in it.
    await desk.reset();
    const french = await customer({ preferredChannel: "email", language: "fr" });
    const d = await draftOf({ case_id: french.caseId, intent: "reminder" });
    assert.equal(d.language, "en");
    assert.equal(d.source, "model");
    const [prompt] = await desk.prompts();
    assert.match(prompt.body, /"language":"en","language_name":"English"/);
    assert.doesNotMatch(prompt.body, /"fr"/);
  },
);

dbTest(
  "drafts: a customer named with fact words (Case Motor) gets the model's draft",
  async () => {
    await desk.reset();
    const c = await deskCustomer({ fullName: "Case Motor", preferredChannel: "email" });
    const d = await draftOf({ case_id: c.caseId, intent: "reminder" });
    assert.equal(d.channel, "email");
    assert.equal(d.source, "model", JSON.stringify(d));
    assert.equal(d.fallback_reason, undefined);
    assert.deepEqual(d.lint.errors, []);
    assert.doesNotMatch(`${d.subject} ${d.body}`, /<customer>|\{\{/);
    assert.equal((await desk.prompts()).length, 1, "valid at once");
  },
);

dbTest(
  "drafts: WhatsApp outside the window is an approved template; inside it, free text",
  async () => {
    await desk.reset();
    const c = await customer({ preferredChannel: "whatsapp" });
    await consent(c.customerId, "whatsapp", "service", "granted");
    const outside = await draftOf({ case_id: c.caseId, intent: "reminder" });
    assert.equal(outside.channel, "whatsapp");
    assert.equal(outside.channel_reason, "preferred_channel");
    assert.equal(outside.template_code, "renewal_due");
    assert.equal(outside.source, "rules");
    assert.equal(outside.fallback_reason, undefined, "one template, no free slot: nothing to ask");
    assert.deepEqual(outside.lint.errors, []);
    assert.equal(outside.lint.estimated_cost_paise, "11.5");
    // An unapproved template does not go outside the window.
    const pending = await expectProblem(
      await post({ case_id: c.caseId, intent: "quote_ready", channel: "whatsapp" }),
      422,
    );
    assert.equal(pending.reason, "template_not_approved");

    await adminSql()`
    insert into public.whatsapp_windows (customer_id, last_inbound_at)
    values (${c.customerId}, now() - interval '1 hour')`;
    const inside = await draftOf({ case_id: c.caseId, intent: "quote_ready" });
    assert.equal(inside.channel, "whatsapp");
    assert.equal(inside.template_code, null);
    assert.equal(inside.source, "model");
    assert.equal(inside.subject, null);
    assert.deepEqual(inside.lint.errors, []);
    assert.equal(inside.lint.estimated_cost_paise, "0");
    assert.match(inside.lint.warnings[0], /24-hour customer-service window/);
    assert.equal((await desk.prompts())[0].template, "whatsapp_draft");
    // The model down inside the window: the email template's text, sent as free text.
    await desk.control({ outage: true });
    try {
      const quote = await draftOf({ case_id: c.caseId, intent: "quote_ready", language: "en" });
      assert.equal(quote.source, "cache", "the same question: the cache, with the model down");
      const link = await customer({ preferredChannel: "whatsapp" });
      await consent(link.customerId, "whatsapp", "service", "granted");
      await adminSql()`
      insert into public.whatsapp_windows (customer_id, last_inbound_at)
      values (${link.customerId}, now() - interval '2 hours')`;
      const fallback = await draftOf({ case_id: link.caseId, intent: "quote_ready" });
      assert.equal(fallback.source, "rules");
      assert.equal(fallback.fallback_reason, "unavailable");
      assert.equal(fallback.template_code, null);
      assert.equal(fallback.purpose, "service");
      assert.ok(fallback.body.startsWith(`Dear ${link.fullName}, your renewal quote for policy`));
      assert.deepEqual(fallback.lint.errors, []);
    } finally {
      await desk.control({ outage: false });
    }
  },
);

dbTest(
  "drafts: an intent that does not fit the case is a 422; a payment link needs an open one",
  async () => {
    await desk.setting("ENABLE_AI_ASSISTANT", false);
    try {
      const c = await customer({ preferredChannel: "email", productLine: "health" });
      for (
        const [intent, detail] of [
          ["thank_you", /renewed case/],
          ["grace_warning", /not in its grace period/],
          ["ncb_at_risk", /No no-claim bonus is at stake/],
          ["payment_link", /no open payment link/],
        ]
      ) {
        const problem = await expectProblem(
          await post({ case_id: c.caseId, intent }),
          422,
        );
        assert.equal(problem.title, "Intent Does Not Fit The Case", intent as string);
        assert.match(problem.detail, detail as RegExp);
      }
      const url = `https://rzp.io/i/T${c.caseNumber.slice(-6)}`;
      await adminSql()`
      insert into public.payment_links (case_id, razorpay_payment_link_id, short_url, amount,
                                        status, expire_by)
      values (${c.caseId}, ${`plink_T${crypto.randomUUID().slice(0, 8)}`}, ${url}, ${c.premium},
              'created', now() + interval '7 days')`;
      const d = await draftOf({ case_id: c.caseId, intent: "payment_link" });
      assert.equal(d.template_code, "payment_link_reminder");
      assert.equal(d.variables.payment_link, url);
      assert.ok(d.body.endsWith(`Please pay it here: ${url}`));
      // In the grace period, a grace warning: by email the health template; by SMS, where only
      // renewal_expired is registered, that one.
      const grace = await customer({
        productLine: "health",
        daysToDue: -3,
        graceDays: 30,
        preferredChannel: "email",
      });
      const warning = await draftOf({ case_id: grace.caseId, intent: "grace_warning" });
      assert.equal(warning.template_code, "health_continuity");
      const sms = await draftOf({ case_id: grace.caseId, intent: "grace_warning", channel: "sms" });
      assert.equal(sms.template_code, "renewal_expired");
    } finally {
      await desk.setting("ENABLE_AI_ASSISTANT", true);
    }
  },
);

dbTest("drafts: down, slow, malformed, refused, over budget or off: the rules' draft", async () => {
  const cases: [string, () => Promise<void>, string, number][] = [
    ["outage", () => desk.control({ outage: true }), "unavailable", 1],
    ["slow", () => desk.control({ latencyMs: aiTimeoutMs + 1000 }), "timeout", 1],
    ["malformed", () => desk.control({ malformed: "json" }), "invalid", 2],
    ["refusal", () => desk.control({ refusal: true }), "invalid", 2],
    ["budget", () => desk.setting("AI_USER_DAILY_BUDGET_PAISE", 0), "over_budget", 0],
    ["off", () => desk.setting("ENABLE_AI_ASSISTANT", false), "disabled", 0],
  ];
  for (const [what, breakIt, reason, calls] of cases) {
    await desk.reset();
    const c = await customer({ preferredChannel: "email" });
    try {
      await breakIt();
      const d = await draftOf({ case_id: c.caseId, intent: "reminder" });
      assert.equal(d.source, "rules", what);
      assert.equal(d.fallback_reason, reason, what);
      assert.equal(d.ai_request_id === null, reason === "disabled", what);
      assert.equal(d.template_code, "renewal_due", what);
      assert.ok(d.body.startsWith(`Dear ${c.fullName}, your motor policy`), what);
      assert.deepEqual(d.lint.errors, [], what);
      assert.equal((await desk.prompts()).length, calls, what);
    } finally {
      await desk.setting("AI_USER_DAILY_BUDGET_PAISE", 5000);
      await desk.setting("ENABLE_AI_ASSISTANT", true);
    }
  }
  await desk.reset();
});

dbTest("drafts: over the AI rate limit, a 429 with Retry-After", async () => {
  await desk.reset();
  const c = await customer({ preferredChannel: "email" });
  await desk.setting("AI_RATE_LIMIT_PER_MINUTE", 0);
  try {
    const response = await post({ case_id: c.caseId, intent: "reminder" });
    const problem = await expectProblem(response, 429);
    assert.match(problem.detail, /Too many AI requests/);
    assert.ok(Number(response.headers.get("retry-after")) >= 1);
    assert.equal((await desk.prompts()).length, 0);
  } finally {
    await desk.setting("AI_RATE_LIMIT_PER_MINUTE", 1000);
  }
});

dbTest(
  "drafts: another agent's case, an analyst, no such case: 404; bad bodies: 422; nothing written",
  async () => {
    await desk.reset();
    const c = await customer({ preferredChannel: "email" });
    const theirs = await customer({ agent: "gopal.agent@py360.test", preferredChannel: "email" });
    const before = (await aiRows(agent)).length;
    await expectProblem(await post({ case_id: theirs.caseId, intent: "reminder" }), 404);
    await expectProblem(await post({ case_id: crypto.randomUUID(), intent: "reminder" }), 404);
    await expectProblem(
      await post({ case_id: c.caseId, intent: "reminder" }, "analyst@py360.test"),
      404,
    );
    await expectProblem(
      await post({ case_id: c.caseId, intent: "reminder" }, "gopal.agent@py360.test"),
      404,
    );
    for (
      const body of [
        {},
        { case_id: c.caseId },
        { case_id: c.caseId, intent: "birthday" },
        { case_id: "not-a-uuid", intent: "reminder" },
        { case_id: c.caseId, intent: "reminder", channel: "telegram" },
        { case_id: c.caseId, intent: "reminder", language: "Hindi" },
        { case_id: c.caseId, intent: "reminder", body: "free text" },
      ]
    ) {
      await expectProblem(await post(body), 422);
    }
    await expectProblem(
      await api("/ai/drafts", {
        token: await tokenFor(agent),
        method: "POST",
        body: JSON.stringify({ case_id: c.caseId, intent: "reminder" }),
        contentType: null,
      }),
      415,
    );
    await expectProblem(
      await api("/ai/drafts", { method: "POST", body: { case_id: c.caseId, intent: "reminder" } }),
      401,
    );
    assert.equal((await aiRows(agent)).length, before, "no AI request for a refused draft");
    assert.equal((await desk.prompts()).length, 0);
    assert.equal(await messagesOf(c.customerId), 0);
    assert.equal(await messagesOf(theirs.customerId), 0);
    // Her branch manager may draft for her case.
    const manager = await draftOf(
      { case_id: c.caseId, intent: "reminder" },
      "cp.manager@py360.test",
    );
    assert.equal(manager.case_id, c.caseId);
  },
);

dbTest("drafts: no prompt the sandbox received holds personal data", async () => {
  const prompts = await desk.allPrompts();
  assert.ok(prompts.length >= 10, `${prompts.length} prompts`);
  assertNoPersonalData(prompts, people);
});

dbTest("drafts: close the harness", async () => {
  await adminSql()`delete from public.templates where id = any (${createdTemplates}::uuid[])`;
  await desk.close();
});
