// /api/customers/{id}/profile: the customer with what the caller may see of them.
import assert from "node:assert/strict";
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

dbTest("customers: the profile gathers policies, cases and consents", async () => {
  const { customerId, caseId, policyId } = await createCase("farah.agent@py360.test");
  await adminSql()`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${customerId}, 'whatsapp', 'service', 'granted', 'web_form'),
           (${customerId}, 'sms', 'marketing', 'withdrawn', 'sms_stop')`;
  const profile = await expectJson(
    await api(`/customers/${customerId}/profile`, {
      token: await tokenFor("farah.agent@py360.test"),
    }),
    200,
  );
  assert.equal(profile.customer.id, customerId);
  assert.equal(profile.customer.phone, "+919900000000");
  assert.deepEqual(profile.policies.map((p: { id: string }) => p.id), [policyId]);
  assert.equal(profile.cases.length, 1);
  assert.equal(profile.cases[0].id, caseId);
  assert.equal(profile.cases[0].outstanding, 1500000);
  assert.equal(profile.cases[0].assignee.full_name, "Farah Khan");
  assert.deepEqual(
    profile.consents.map((c: { channel: string; status: string }) => `${c.channel}:${c.status}`),
    ["sms:withdrawn", "whatsapp:granted"],
  );
});

dbTest("customers: their manager sees them; another branch does not (404)", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  await expectJson(
    await api(`/customers/${customerId}/profile`, {
      token: await tokenFor("cp.manager@py360.test"),
    }),
    200,
  );
  const hidden = await expectProblem(
    await api(`/customers/${customerId}/profile`, {
      token: await tokenFor("ggn.manager@py360.test"),
    }),
    404,
  );
  assert.equal(hidden.detail, "No such customer, or you may not see it.");
  await expectProblem(
    await api(`/customers/${customerId}/profile`, { token: await tokenFor("analyst@py360.test") }),
    404,
  );
  await expectProblem(await api(`/customers/${customerId}/profile`), 401);
  await expectProblem(
    await api("/customers/123/profile", { token: await tokenFor("admin@py360.test") }),
    422,
  );
});

dbTest("customers: the profile's money is integer paise and its enums the domain's", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const profile = await expectJson(
    await api(`/customers/${customerId}/profile`, {
      token: await tokenFor("farah.agent@py360.test"),
    }),
    200,
  );
  assert.equal(profile.policies.length, 1);
  assert.equal(profile.cases.length, 1);
  const [policy] = profile.policies;
  assert.deepEqual([policy.premium, policy.sum_insured], [1500000, 60000000]);
  assert.ok(
    [policy.premium, policy.sum_insured, profile.cases[0].outstanding].every(Number.isSafeInteger),
  );
  assert.equal(policy.status, "active");
});

/** A fixture customer held by Farah (CP branch), and the row as stored before any change. */
async function farahsCustomer() {
  const fixture = await createCase("farah.agent@py360.test");
  return { ...fixture, before: await snapshot("customers", fixture.customerId) };
}

dbTest("customers: PATCH corrects contact details; the phone is stored in E.164", async () => {
  const { customerId } = await farahsCustomer();
  const token = await tokenFor("farah.agent@py360.test");
  for (
    const [written, stored] of [
      ["098123 45678", "+919812345678"],
      ["+91 70123-45678", "+917012345678"],
      ["919012345678", "+919012345678"],
      ["+44 7911 123456", "+447911123456"],
    ]
  ) {
    const customer = await expectJson(
      await api(`/customers/${customerId}`, { token, method: "PATCH", body: { phone: written } }),
      200,
    );
    assert.equal(customer.phone, stored, written);
    assert.equal((await snapshot("customers", customerId)).phone, stored);
  }
  const changed = await expectJson(
    await api(`/customers/${customerId}`, {
      token,
      method: "PATCH",
      body: {
        full_name: "Meera Iyer-Nair",
        email: "meera.nair@mail.py360.test",
        language: "ta",
        preferred_channel: "sms",
        city: "Chennai",
      },
    }),
    200,
  );
  assert.deepEqual(
    {
      full_name: changed.full_name,
      email: changed.email,
      language: changed.language,
      preferred_channel: changed.preferred_channel,
      city: changed.city,
      phone: changed.phone,
    },
    {
      full_name: "Meera Iyer-Nair",
      email: "meera.nair@mail.py360.test",
      language: "ta",
      preferred_channel: "sms",
      city: "Chennai",
      phone: "+447911123456",
    },
  );
  const cleared = await expectJson(
    await api(`/customers/${customerId}`, {
      token,
      method: "PATCH",
      body: { phone: null, city: null },
    }),
    200,
  );
  assert.deepEqual([cleared.phone, cleared.city, cleared.email], [null, null, changed.email]);
  assert.equal((await snapshot("customers", customerId)).email, "meera.nair@mail.py360.test");
});

dbTest("customers: PATCH refuses numbers that are not mobiles, with a clear message", async () => {
  const { customerId, before } = await farahsCustomer();
  const token = await tokenFor("farah.agent@py360.test");
  for (
    const phone of [
      "+910000000000", // the defect's example
      "5812345678", // Indian mobiles start with 6-9
      "98123 4567", // nine digits
      "+91 98123 456789", // eleven
      "011 2345 6789", // a Delhi landline
      "call me",
      "",
    ]
  ) {
    const problem = await expectProblem(
      await api(`/customers/${customerId}`, { token, method: "PATCH", body: { phone } }),
      422,
    );
    assert.equal(problem.errors[0].path, "phone", phone);
    assert.match(problem.errors[0].message, /mobile number/, phone);
  }
  assert.deepEqual(await snapshot("customers", customerId), before);
});

dbTest("customers: PATCH takes only the desk's columns and a visible customer", async () => {
  const { customerId, before } = await farahsCustomer();
  const token = await tokenFor("farah.agent@py360.test");
  for (
    const body of [
      {},
      { dnd: true },
      { kyc_verified_on: "2026-01-01" },
      { full_name: "   " },
      { email: "not-an-email" },
      { language: "Tamil" },
      { preferred_channel: "pigeon" },
      { id: crypto.randomUUID() },
    ]
  ) {
    await expectProblem(
      await api(`/customers/${customerId}`, { token, method: "PATCH", body }),
      422,
    );
  }
  const change = { method: "PATCH", body: { city: "Pune" } };
  // Another branch, an analyst, a customer who does not exist: all alike 404s.
  for (const email of ["ggn.manager@py360.test", "kavya.agent@py360.test", "analyst@py360.test"]) {
    await expectProblem(
      await api(`/customers/${customerId}`, { token: await tokenFor(email), ...change }),
      404,
    );
  }
  await expectProblem(await api(`/customers/${crypto.randomUUID()}`, { token, ...change }), 404);
  await expectProblem(await api(`/customers/${customerId}`, change), 401);
  assert.deepEqual(await snapshot("customers", customerId), before);

  // The branch manager sees the customer, so may correct them.
  const moved = await expectJson(
    await api(`/customers/${customerId}`, {
      token: await tokenFor("cp.manager@py360.test"),
      ...change,
    }),
    200,
  );
  assert.equal(moved.city, "Pune");
});

/** The full names of a search's customers, after asserting the answer's shape. */
async function searchNames(email: string, query: string) {
  const found = await expectJson(
    await api(`/customers?${query}`, { token: await tokenFor(email) }),
    200,
  );
  assert.equal(typeof found.more, "boolean");
  return { names: found.data.map((c: { full_name: string }) => c.full_name), more: found.more };
}

dbTest("customers: search by name finds the caller's customers, in any case", async () => {
  const first = await createCase("farah.agent@py360.test");
  const second = await createCase("farah.agent@py360.test");
  const [one, two] = await adminSql()`
    select full_name from public.customers where id in (${first.customerId}, ${second.customerId})
     order by full_name`;
  const tag = one.full_name.slice(-8);
  assert.deepEqual(await searchNames("farah.agent@py360.test", `q=${tag.toLowerCase()}`), {
    names: [one.full_name],
    more: false,
  });
  // Her branch manager sees it; another branch, another agent and an analyst do not.
  assert.deepEqual((await searchNames("cp.manager@py360.test", `q=${tag}`)).names, [one.full_name]);
  for (const email of ["ggn.manager@py360.test", "kavya.agent@py360.test", "analyst@py360.test"]) {
    assert.deepEqual(await searchNames(email, `q=${tag}`), { names: [], more: false }, email);
  }
  // A page in name order, and whether there is more.
  const page = await searchNames("farah.agent@py360.test", "q=test+customer&limit=1");
  assert.equal(page.more, true);
  assert.equal(page.names.length, 1);
  assert.ok(page.names[0] <= two.full_name);
  // Wildcards are letters: `%%%` is not "everyone".
  assert.deepEqual(await searchNames("admin@py360.test", "q=%25%25%25"), {
    names: [],
    more: false,
  });
});

dbTest("customers: search by phone takes it as people write it", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const digits = `98${String(Date.now()).slice(-8)}`;
  const [row] = await adminSql()`
    update public.customers set phone = ${`+91${digits}`} where id = ${customerId}
    returning full_name`;
  const written = `0${digits.slice(0, 5)}-${digits.slice(5)}`;
  assert.deepEqual(
    await searchNames("farah.agent@py360.test", `q=${encodeURIComponent(written)}`),
    { names: [row.full_name], more: false },
  );
  assert.deepEqual(
    (await searchNames("ggn.manager@py360.test", `q=${encodeURIComponent(`+91 ${digits}`)}`))
      .names,
    [],
  );
});

dbTest("customers: a search without 3 characters or with a bad limit is a 422", async () => {
  const token = await tokenFor("farah.agent@py360.test");
  for (const query of ["", "q=ab", "q=%20%20ab%20%20", "q=abc&limit=0", "q=abc&limit=101"]) {
    await expectProblem(await api(`/customers?${query}`, { token }), 422);
  }
  await expectProblem(await api("/customers?q=test"), 401);
});
