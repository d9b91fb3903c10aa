// /api/customers/{id}/profile: the customer with what the caller may see of them.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
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
