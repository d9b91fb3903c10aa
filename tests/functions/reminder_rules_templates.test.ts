// A ladder step's template (issue 9 review), through PATCH /api/reminder-rules/{id}: a template
// code that exists on none of the step's channels is refused (422); it used to be accepted, and
// the cadence then sent nothing for that step on any case, silently.
import assert from "node:assert/strict";
import { adminSql, api, dbTest, tokenFor } from "./_helpers.ts";

dbTest("reminder rules: a step naming a template that does not exist is refused", async () => {
  const [step] = await adminSql()`
    select id, template_code from public.reminder_rules
     where product_line = 'life' and kind = 'message' order by offset_days limit 1`;
  try {
    const response = await api(`/reminder-rules/${step.id}`, {
      token: await tokenFor("admin@py360.test"),
      method: "PATCH",
      body: { template_code: "renewal_dew" },
    });
    await response.body?.cancel();
    assert.equal(response.status, 422, "a template code with no active template is 422");
  } finally {
    await adminSql()`
      update public.reminder_rules set template_code = ${step.template_code} where id = ${step.id}`;
  }
});
