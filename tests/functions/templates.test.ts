// /api/templates: the desk reads, admins write, every save passes the lint or is refused with its
// reasons (PY009 → 422 `reasons`), and the lint answers unsaved drafts.
import assert from "node:assert/strict";
import { reasonsOf } from "../../functions/_shared/errors.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
  tokenFor,
} from "./_helpers.ts";
import { createTemplate, enqueue, freshCode } from "./_messaging.ts";

const templateCount = async () =>
  (await adminSql()`select count(*)::int as n from public.templates`)[0].n as number;

const rate = async (name: string) =>
  (await adminSql()`
    select pg_catalog.trim_scale((value ->> ${name})::numeric)::text as rate
      from public.app_settings where key = 'MESSAGE_RATES_PAISE'`)[0].rate as string;

/** An SMS template on a registered DLT template, as an admin would post it. */
const smsTemplate = (code = freshCode()) => ({
  code,
  channel: "sms",
  purpose: "service",
  body: "Dear {{customer_name}}, renew {{policy_number}} -PYRNWL",
  dlt_entity_id: "1101234567890123456",
  dlt_header: "PYRNWL",
  dlt_template_id: "1107123456789012345",
  dlt_text: "Dear {#var#}, renew {#var#} -PYRNWL",
});

dbTest("templates: an admin adds, changes and removes one; the desk reads it", async () => {
  const admin = await tokenFor("admin@py360.test");
  const draft = smsTemplate();
  const created = await expectJson(
    await api("/templates", { token: admin, method: "POST", body: draft }),
    201,
  );
  assert.equal(created.code, draft.code);
  assert.equal(created.language, "en", "English unless said");
  assert.equal(created.active, true);
  assert.equal(created.whatsapp_name, null);
  assert.deepEqual(created.lint, {
    errors: [],
    warnings: [],
    variables: ["customer_name", "policy_number"],
    encoding: "GSM-7",
    characters: created.lint.characters,
    segments: 1,
    estimated_cost_paise: await rate("sms_segment"),
  });

  const agent = await tokenFor("farah.agent@py360.test");
  assert.deepEqual(
    await expectJson(await api(`/templates/${created.id}`, { token: agent }), 200),
    created,
  );
  const listed = await expectJson(
    await api(`/templates?code=${draft.code}`, { token: agent }),
    200,
  );
  assert.deepEqual(listed.data.map((t: { id: string }) => t.id), [created.id]);
  assert.deepEqual(
    (await expectJson(
      await api(`/templates?code=${draft.code}&channel=email`, { token: agent }),
      200,
    )).data,
    [],
  );
  const analyst = await tokenFor("analyst@py360.test");
  assert.deepEqual(
    (await expectJson(await api(`/templates?code=${draft.code}`, { token: analyst }), 200)).data,
    [],
    "analysts see no templates",
  );
  await expectProblem(await api(`/templates/${created.id}`, { token: analyst }), 404);

  const changed = await expectJson(
    await api(`/templates/${created.id}`, {
      token: admin,
      method: "PUT",
      body: { active: false },
    }),
    200,
  );
  assert.deepEqual([changed.active, changed.body], [false, draft.body], "only what was named");
  assert.deepEqual(
    (await expectJson(
      await api(`/templates?code=${draft.code}&active=true`, { token: agent }),
      200,
    )).data,
    [],
  );

  assert.equal(
    (await api(`/templates/${created.id}`, { token: admin, method: "DELETE" })).status,
    204,
  );
  await expectProblem(await api(`/templates/${created.id}`, { token: admin }), 404);
  await expectProblem(
    await api(`/templates/${created.id}`, { token: admin, method: "DELETE" }),
    404,
  );
});

dbTest(
  "templates: a save the lint refuses is a 422 listing its reasons; nothing is saved",
  async () => {
    const admin = await tokenFor("admin@py360.test");
    const before = await templateCount();
    const whatsapp = {
      code: freshCode(),
      channel: "whatsapp",
      purpose: "service",
      body: "Hello {{customer_name}}, renew {{favourite_colour}}",
      whatsapp_name: "renewal_due",
      whatsapp_category: "utility",
      whatsapp_status: "approved",
      whatsapp_parameter_count: 3,
    };
    const refused = await expectProblem(
      await api("/templates", { token: admin, method: "POST", body: whatsapp }),
      422,
    );
    assert.equal(refused.code, "PY009");
    assert.equal(refused.title, "Template Lint Failed");
    assert.deepEqual(refused.reasons, [
      "unknown variables: favourite_colour",
      "the approved template takes 3 body parameters and this body fills 2 (WhatsApp would " +
      "refuse it with error 132000)",
    ]);
    assert.equal(await templateCount(), before);

    // Every marketing message carries its withdrawal link: Meta and DLT send only the registered
    // text, so a marketing WhatsApp or SMS template must hold it (issue 13).
    const page = "http://127.0.0.1:54321/functions/v1/consent/w/";
    const offerSms = {
      ...smsTemplate(),
      purpose: "marketing",
      body: "Offer for {{customer_name}} -PYRNWL",
      dlt_text: "Offer for {#var#} -PYRNWL",
    };
    const unlinkedSms = await expectProblem(
      await api("/templates", { token: admin, method: "POST", body: offerSms }),
      422,
    );
    assert.deepEqual(unlinkedSms.reasons, [
      `a marketing SMS template must hold its withdrawal link: ${page}` +
      `{{withdrawal_token_1}}{{withdrawal_token_2}} (registered as ${page}{#var#}{#var#}): every ` +
      "marketing message carries it, and DLT sends only the registered text",
    ]);
    const unlinkedWhatsapp = await expectProblem(
      await api("/templates", {
        token: admin,
        method: "POST",
        body: {
          ...whatsapp,
          purpose: "marketing",
          whatsapp_category: "marketing",
          body: "An offer for {{customer_name}}",
          whatsapp_parameter_count: 1,
        },
      }),
      422,
    );
    assert.deepEqual(unlinkedWhatsapp.reasons, [
      "a marketing WhatsApp template must hold {{withdrawal_link}} in its body: every marketing " +
      "message carries its withdrawal link, and Meta sends only the approved text",
    ]);
    assert.equal(await templateCount(), before);
    const linked = await expectJson(
      await api("/templates", {
        token: admin,
        method: "POST",
        body: {
          ...offerSms,
          body: `Offer for {{customer_name}}. Stop: ${page}` +
            "{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL",
          dlt_text: `Offer for {#var#}. Stop: ${page}{#var#}{#var#} -PYRNWL`,
        },
      }),
      201,
    );
    assert.deepEqual(linked.lint.errors, [], "with its link, the offer is saved");
    await adminSql()`delete from public.templates where id = ${linked.id}`;

    const created = await expectJson(
      await api("/templates", { token: admin, method: "POST", body: smsTemplate() }),
      201,
    );
    const saved = await snapshot("templates", created.id);
    const drifted = await expectProblem(
      await api(`/templates/${created.id}`, {
        token: admin,
        method: "PUT",
        body: { body: "Dear {{customer_name}}, please renew {{policy_number}} -PYRNWL" },
      }),
      422,
    );
    assert.equal(drifted.reasons.length, 1);
    assert.match(drifted.reasons[0], /^the text does not match its DLT template/);
    assert.deepEqual(await snapshot("templates", created.id), saved, "the row is as it was");
  },
);

dbTest("templates: refusals of writes change nothing", async () => {
  const admin = await tokenFor("admin@py360.test");
  const { id, code } = await createTemplate();
  const saved = await snapshot("templates", id);
  const before = await templateCount();

  for (const email of ["farah.agent@py360.test", "cp.manager@py360.test", "analyst@py360.test"]) {
    const token = await tokenFor(email);
    const post = await expectProblem(
      await api("/templates", { token, method: "POST", body: smsTemplate() }),
      403,
    );
    assert.equal(post.code, "42501", email);
    await expectProblem(
      await api(`/templates/${id}`, { token, method: "PUT", body: { active: false } }),
      email === "analyst@py360.test" ? 404 : 403,
    );
    await expectProblem(
      await api(`/templates/${id}`, { token, method: "DELETE" }),
      email === "analyst@py360.test" ? 404 : 403,
    );
  }
  const taken = await expectProblem(
    await api("/templates", { token: admin, method: "POST", body: smsTemplate(code) }),
    409,
  );
  assert.equal(taken.code, "23505");
  const invalid: [Record<string, unknown>, string][] = [
    [{ channel: "voice" }, "channel"],
    [{ code: "Bad Code" }, "code"],
    [{ language: "english" }, "language"],
    [{ dlt_header: "PY" }, "dlt_header"],
    [{ whatsapp_parameter_count: 101 }, "whatsapp_parameter_count"],
    [{ body: "" }, "body"],
    [{ lint: {} }, ""],
  ];
  for (const [change, path] of invalid) {
    const problem = await expectProblem(
      await api("/templates", {
        token: admin,
        method: "POST",
        body: { ...smsTemplate(), ...change },
      }),
      422,
    );
    assert.equal(problem.errors[0].path, path, JSON.stringify(change));
    await expectProblem(
      await api(`/templates/${id}`, { token: admin, method: "PUT", body: change }),
      422,
    );
  }
  await expectProblem(
    await api(`/templates/${id}`, { token: admin, method: "PUT", body: {} }),
    422,
  );
  await expectProblem(
    await api(`/templates/${crypto.randomUUID()}`, {
      token: admin,
      method: "PUT",
      body: { active: false },
    }),
    404,
  );
  await expectProblem(await api("/templates/nope", { token: admin }), 422);
  await expectProblem(await api("/templates", { method: "POST", body: smsTemplate() }), 401);

  // A template messages were sent from stays, as their history.
  const { customerId } = await createCase("farah.agent@py360.test");
  await enqueue([{ customer_id: customerId, template_code: code }]);
  const used = await expectProblem(
    await api(`/templates/${id}`, { token: admin, method: "DELETE" }),
    409,
  );
  assert.equal(used.code, "23503");

  assert.deepEqual(await snapshot("templates", id), saved);
  assert.equal(await templateCount(), before);
});

dbTest("templates: the lint answers a draft without saving it", async () => {
  const token = await tokenFor("admin@py360.test");
  const before = await templateCount();
  const lint = async (draft: Record<string, unknown>) =>
    await expectJson(await api("/templates/lint", { token, method: "POST", body: draft }), 200);

  const { code: _, ...noCode } = smsTemplate();
  const hindiBody = "प्रिय {{customer_name}}, {{policy_number}} का नवीनीकरण करें -PYRNWL";
  const hindi = await lint({
    ...noCode,
    language: "hi",
    body: hindiBody,
    dlt_text: "प्रिय {#var#}, {#var#} का नवीनीकरण करें -PYRNWL",
  });
  assert.deepEqual(hindi.errors, []);
  assert.equal(hindi.encoding, "UCS-2");
  // The fixed characters and the longest customer_name (40) and policy_number (30): more than
  // 70, so two UCS-2 segments of 67.
  const fixed = [...hindiBody.replace(/\{\{[a-z_]+\}\}/g, "")].length;
  assert.equal(hindi.characters, fixed + 40 + 30);
  assert.ok(hindi.characters > 70 && hindi.characters <= 134);
  assert.equal(hindi.segments, 2);
  assert.equal(hindi.estimated_cost_paise, String(2 * Number(await rate("sms_segment"))));

  const drifted = await lint({ ...noCode, body: "Renew {{policy_number}} now -PYRNWL" });
  assert.equal(drifted.errors.length, 1);
  assert.match(drifted.errors[0], /does not match its DLT template/);

  const email = await lint({
    channel: "email",
    purpose: "transactional",
    subject: "Receipt for {{policy_number}}",
    body: "We received {{amount_due}}.",
  });
  assert.deepEqual(
    [email.errors, email.variables, email.encoding, email.segments, email.estimated_cost_paise],
    [[], ["amount_due", "policy_number"], null, null, await rate("email")],
  );
  const pending = await lint({
    channel: "whatsapp",
    purpose: "marketing",
    body: "An offer for {{customer_name}}. Stop offers: {{withdrawal_link}}",
    whatsapp_name: "offer",
    whatsapp_category: "marketing",
    whatsapp_status: "pending",
    whatsapp_parameter_count: 2,
  });
  assert.deepEqual(pending.errors, []);
  assert.match(pending.warnings[0], /^not approved by Meta: messages from it are blocked/);

  await expectProblem(
    await api("/templates/lint", { token, method: "POST", body: { channel: "sms" } }),
    422,
  );
  await expectProblem(
    await api("/templates/lint", { token, method: "POST", body: { ...noCode, id: "x" } }),
    422,
  );
  await expectProblem(await api("/templates/lint", { method: "POST", body: noCode }), 401);
  assert.equal(await templateCount(), before, "a lint saves nothing");
});

Deno.test("errors: only our own errors' JSON-array details become reasons", () => {
  assert.deepEqual(reasonsOf({ code: "PY009", detail: '["a", "b"]' }), { reasons: ["a", "b"] });
  assert.deepEqual(reasonsOf({ code: "PY009", detail: "not a list" }), {});
  assert.deepEqual(reasonsOf({ code: "PY009", detail: "[1, 2]" }), {});
  assert.deepEqual(reasonsOf({ code: "PY009", detail: "[broken" }), {});
  assert.deepEqual(reasonsOf({ code: "PY009" }), {});
  assert.deepEqual(reasonsOf({ code: "23505", detail: '["a"]' }), {}, "not a Postgres error's");
});
