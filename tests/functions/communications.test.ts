// /api/communications: delivery statuses filtered and paged under RLS, and the statuses of many
// messages by id, where what the caller may not see is `unknown`, exactly like what is absent.
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
import { createTemplate, enqueue, messageCount, setMessages } from "./_messaging.ts";

/** A customer of Farah's with four messages in four states, and one on a case. */
async function fixture() {
  const { customerId, caseId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const [queued, sent, delivered, failed, onCase] = await enqueue([
    { customer_id: customerId, template_code: code },
    { customer_id: customerId, template_code: code },
    { customer_id: customerId, template_code: code },
    { customer_id: customerId, template_code: code },
    { customer_id: customerId, template_code: code, case_id: caseId },
  ]);
  const [blocked] = await enqueue([
    { customer_id: customerId, channel: "whatsapp", body: "Hi", purpose: "service" },
  ]);
  const at = new Date(Date.now() - 60_000);
  await setMessages([sent, delivered, failed, onCase], {
    status: "sent",
    provider: "twilio",
    sent_at: at,
  });
  await setMessages([delivered], { status: "delivered", delivered_at: new Date() });
  await setMessages([failed], {
    status: "failed",
    failed_at: new Date(),
    last_error_code: "21211",
    last_error: "Invalid 'To' Phone Number",
  });
  return { customerId, caseId, queued, sent, delivered, failed, onCase, blocked };
}

const ids = (page: { data: { id: string }[] }) => page.data.map((m) => m.id).sort();

dbTest("communications: delivery status by customer, case, channel and status", async () => {
  const f = await fixture();
  const token = await tokenFor("farah.agent@py360.test");
  const get = async (query: string) =>
    await expectJson(await api(`/communications/delivery-status?${query}`, { token }), 200);

  const all = await get(`customer_id=${f.customerId}`);
  assert.deepEqual(
    ids(all),
    [f.queued, f.sent, f.delivered, f.failed, f.onCase, f.blocked].sort(),
  );
  const failed = all.data.find((m: { id: string }) => m.id === f.failed);
  assert.equal(failed.status, "failed");
  assert.equal(failed.last_error_code, "21211");
  assert.equal(failed.last_error, "Invalid 'To' Phone Number");
  assert.ok(failed.sent_at && failed.failed_at && failed.queued_at);
  assert.equal(failed.delivered_at, null);
  const blocked = all.data.find((m: { id: string }) => m.id === f.blocked);
  assert.deepEqual(
    [blocked.status, blocked.blocked_reason, blocked.channel],
    ["blocked", "whatsapp_not_opted_in", "whatsapp"],
  );
  assert.ok(blocked.blocked_at);

  assert.deepEqual(
    ids(await get(`customer_id=${f.customerId}&status=failed,delivered`)),
    [f.delivered, f.failed].sort(),
  );
  assert.deepEqual(ids(await get(`customer_id=${f.customerId}&channel=whatsapp`)), [f.blocked]);
  assert.deepEqual(ids(await get(`case_id=${f.caseId}`)), [f.onCase]);
  assert.deepEqual(ids(await get(`case_id=${f.caseId}&status=queued`)), []);

  // One a page: every message once, newest first.
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { data: { id: string }[]; next_cursor: string | null } = await get(
      `customer_id=${f.customerId}&limit=1${cursor ? `&cursor=${cursor}` : ""}`,
    );
    seen.push(...page.data.map((m) => m.id));
    cursor = page.next_cursor;
  } while (cursor && seen.length < 10);
  assert.deepEqual(seen, all.data.map((m: { id: string }) => m.id));
});

dbTest("communications: the period, as IST days or instants", async () => {
  const f = await fixture();
  const token = await tokenFor("farah.agent@py360.test");
  // The sent one was queued ten days ago, at 00:30 IST.
  const [old] = await adminSql()`
    update public.messages
       set created_at = ((current_date - 10) + time '00:30') at time zone 'Asia/Kolkata'
     where id = ${f.sent}
    returning to_char(created_at at time zone 'Asia/Kolkata', 'YYYY-MM-DD') as day,
              to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as instant`;
  const get = async (query: string) =>
    ids(
      await expectJson(
        await api(`/communications/delivery-status?customer_id=${f.customerId}&${query}`, {
          token,
        }),
        200,
      ),
    );
  assert.deepEqual(await get(`from=${old.day}&to=${old.day}`), [f.sent], "that IST day, whole");
  assert.equal((await get(`from=${old.day}`)).length, 6, "from that day on: all");
  const dayAfter = new Date(Date.parse(old.day) + 86_400_000).toISOString().slice(0, 10);
  assert.equal((await get(`from=${dayAfter}`)).length, 5, "from the next day: not it");
  assert.deepEqual(await get(`to=${old.instant}`), [], "an instant `to` is exclusive");
  assert.deepEqual(await get(`from=${old.instant}&to=${dayAfter}`), [f.sent]);
  const offset = `${old.day}T00:30:00%2B05:30`;
  assert.deepEqual(await get(`from=${offset}&to=${old.day}`), [f.sent], "an offset instant");
});

dbTest("communications: RLS decides whose delivery statuses show", async () => {
  const f = await fixture();
  const list = async (email: string) =>
    ids(
      await expectJson(
        await api(`/communications/delivery-status?customer_id=${f.customerId}`, {
          token: await tokenFor(email),
        }),
        200,
      ),
    );
  assert.equal((await list("cp.manager@py360.test")).length, 6, "their branch's manager");
  assert.equal((await list("admin@py360.test")).length, 6, "an admin");
  assert.deepEqual(await list("gopal.agent@py360.test"), [], "another agent");
  assert.deepEqual(await list("ggn.manager@py360.test"), [], "another branch's manager");
  assert.deepEqual(await list("analyst@py360.test"), [], "an analyst");
});

dbTest("communications: delivery status refusals", async () => {
  const token = await tokenFor("farah.agent@py360.test");
  const refused = async (query: string, path?: string) => {
    const problem = await expectProblem(
      await api(`/communications/delivery-status?${query}`, { token }),
      422,
    );
    if (path) assert.equal(problem.errors[0].path, path, query);
  };
  await refused("status=sent,lost", "status");
  await refused("channel=voice", "channel");
  await refused("from=2026-13-01", "from");
  await refused("to=yesterday", "to");
  await refused("from=2026-12-01T10:00:00", "from"); // an instant needs its offset
  await refused("from=2026-12-02&to=2026-12-01", "from");
  await refused("limit=201", "limit");
  await refused("customer_id=42", "customer_id");
  await refused(`cursor=${btoa("[1,2]")}`, "cursor");
  await expectProblem(await api("/communications/delivery-status"), 401);
});

dbTest("communications: bulk status answers unknown for what the caller may not see", async () => {
  const f = await fixture();
  const other = await createCase("gopal.agent@py360.test");
  const { code } = await createTemplate();
  const [hidden] = await enqueue([{ customer_id: other.customerId, template_code: code }]);
  const absent = crypto.randomUUID();
  const asked = [f.queued, f.delivered, f.failed, f.blocked, hidden, absent];
  const statuses = async (email: string, ids = asked) =>
    (await expectJson(
      await api("/communications/bulk-status", {
        token: await tokenFor(email),
        method: "POST",
        body: { ids },
      }),
      200,
    )).statuses;

  assert.deepEqual(await statuses("farah.agent@py360.test"), {
    [f.queued]: "queued",
    [f.delivered]: "delivered",
    [f.failed]: "failed",
    [f.blocked]: "blocked",
    [hidden]: "unknown",
    [absent]: "unknown",
  });
  const unknown = Object.fromEntries(asked.map((id) => [id, "unknown"]));
  assert.deepEqual(await statuses("ggn.manager@py360.test"), {
    ...unknown,
    [hidden]: "queued",
  }, "another branch's manager sees only their branch's");
  assert.deepEqual(await statuses("analyst@py360.test"), unknown, "an analyst sees none");
  const admin = await statuses("admin@py360.test");
  assert.deepEqual(Object.keys(admin).filter((id) => admin[id] === "unknown"), [absent]);
  const upper = f.delivered.toUpperCase();
  assert.deepEqual(await statuses("farah.agent@py360.test", [upper]), { [upper]: "delivered" });
});

dbTest("communications: bulk status refusals change nothing", async () => {
  const token = await tokenFor("farah.agent@py360.test");
  const before = await messageCount();
  const post = (body: unknown) =>
    api("/communications/bulk-status", { token, method: "POST", body });
  const many = Array.from({ length: 1001 }, () => crypto.randomUUID());
  assert.equal((await expectProblem(await post({ ids: many }), 422)).errors[0].path, "ids");
  await expectProblem(await post({ ids: [] }), 422);
  await expectProblem(await post({ ids: ["nope"] }), 422);
  await expectProblem(await post({ ids: [crypto.randomUUID()], status: "sent" }), 422);
  await expectProblem(await post("{"), 400);
  await expectProblem(
    await api("/communications/bulk-status", {
      method: "POST",
      body: { ids: [crypto.randomUUID()] },
    }),
    401,
  );
  // A thousand is the limit, not beyond it.
  const thousand = await expectJson(await post({ ids: many.slice(0, 1000) }), 200);
  assert.equal(Object.keys(thousand.statuses).length, 1000);
  assert.equal(await messageCount(), before);
});
