// /api/reminder-rules: the desk reads the ladder; only admins change a step; the table's checks
// keep a step consistent.
import assert from "node:assert/strict";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";

dbTest("reminder rules: the desk reads the motor ladder in order", async () => {
  const body = await expectJson(
    await api("/reminder-rules?product_line=motor", {
      token: await tokenFor("farah.agent@py360.test"),
    }),
    200,
  );
  const days = body.data.map((r: { offset_days: number }) => r.offset_days);
  assert.ok(days.length >= 9, "the seeded ladder");
  assert.deepEqual(days, [...days].sort((a: number, b: number) => a - b));
  assert.ok(body.data.every((r: { product_line: string }) => r.product_line === "motor"));
  assert.ok(body.data.some((r: { template_code: string }) => r.template_code === "ncb_at_risk"));
});

dbTest(
  "reminder rules: admins change a step; an agent cannot; a broken step is refused",
  async () => {
    const [step] = await adminSql()`
    select id, channels::text[] as channels from public.reminder_rules
     where product_line = 'health' and kind = 'message' order by offset_days limit 1`;
    const patch = async (email: string, body: unknown) =>
      api(`/reminder-rules/${step.id}`, { token: await tokenFor(email), method: "PATCH", body });
    await expectProblem(await patch("farah.agent@py360.test", { active: false }), 404);
    await expectProblem(await patch("admin@py360.test", {}), 422);
    await expectProblem(await patch("admin@py360.test", { channels: ["sms", "sms"] }), 422);
    await expectProblem(await patch("admin@py360.test", { sla_hours: 24 }), 422);
    const changed = await expectJson(
      await patch("admin@py360.test", { channels: ["email", "sms"] }),
      200,
    );
    assert.deepEqual(changed.channels, ["email", "sms"]);
    const [row] = await adminSql()`
    select channels::text[] as channels from public.reminder_rules where id = ${step.id}`;
    assert.deepEqual(row.channels, ["email", "sms"]);
    await adminSql()`
    update public.reminder_rules set channels = ${step.channels}::public.channel_type[]
     where id = ${step.id}`;
  },
);
