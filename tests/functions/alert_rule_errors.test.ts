// GET /api/alerts shows admins a rule that fails to evaluate (review of issue 11, defect 6): a
// queue_delay threshold of 2.5 minutes saved before thresholds were checked for whole numbers
// (written here past the check's trigger) fails its rule every minute; an admin's answer names
// the rule and why in failing_rules, a manager's has none; once the threshold is whole again and
// the rule runs, it is gone from the list.
import assert from "node:assert/strict";
import postgres from "postgres";
import { adminDbUrl, api, dbTest, expectJson, tokenFor } from "./_helpers.ts";

const db = postgres(adminDbUrl(), { max: 1, onnotice: () => {} });

interface FailingRule {
  rule: string;
  last_error: string;
  last_evaluated_at: string | null;
}

async function failingRules(email: string): Promise<FailingRule[] | null> {
  const body = await expectJson(await api("/alerts", { token: await tokenFor(email) }), 200);
  return body.failing_rules;
}

dbTest("alerts: a rule that fails to evaluate is shown to admins, not managers", async () => {
  const [{ threshold }] = await db<{ threshold: unknown }[]>`
    select threshold from public.alert_rules where code = 'queue_delay'`;
  try {
    const before = await failingRules("admin@py360.test");
    assert.ok(Array.isArray(before), "an admin's answer lists the failing rules");
    assert.equal(before.some((r) => r.rule === "queue_delay"), false);

    await db.begin(async (tx) => {
      await tx`alter table public.alert_rules disable trigger _100_check`;
      await tx`update public.alert_rules set threshold = '{"minutes": 2.5}'
                where code = 'queue_delay'`;
      await tx`alter table public.alert_rules enable trigger _100_check`;
    });
    const [{ failed }] = await db<{ failed: Record<string, string> }[]>`
      select private.evaluate_alerts(now()) -> 'failed' as failed`;
    const why = "threshold.minutes must be a whole number from 1 to 1440";
    assert.equal(failed.queue_delay, why);

    const shown = await failingRules("admin@py360.test");
    const rule = shown?.find((r) => r.rule === "queue_delay");
    assert.equal(rule?.last_error, why);
    assert.match(rule?.last_evaluated_at ?? "", /Z$/);
    assert.equal(await failingRules("cp.manager@py360.test"), null, "managers are not shown rules");

    await db`update public.alert_rules set threshold = ${db.json(threshold as never)}
              where code = 'queue_delay'`;
    await db`select private.evaluate_alerts(now())`;
    const after = await failingRules("admin@py360.test");
    assert.equal(after?.some((r) => r.rule === "queue_delay"), false, "gone once it runs");
  } finally {
    await db`update public.alert_rules set threshold = ${db.json(threshold as never)}
              where code = 'queue_delay'`;
    await db.end();
  }
});
