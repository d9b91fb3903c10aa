// /api/customers/{id}/consents (issue 13): the desk reads a customer's consents (the state and the
// append-only ledger, newest first) and records one given or withdrawn, for customers it sees;
// anyone else gets a 404 and changes nothing, and a bad request is a 422 (a body that is not JSON
// a 415) that changes nothing.
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

const farah = "farah.agent@py360.test";
const manager = "cp.manager@py360.test";
const admin = "admin@py360.test";
const otherAgent = "gopal.agent@py360.test";

/** How many ledger rows the customer has. */
async function ledgerSize(customerId: string): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from public.consent_ledger where customer_id = ${customerId}`;
  return row.n;
}

const grant = {
  channel: "email",
  purpose: "marketing",
  status: "granted",
  source: "agent_call",
  evidence: { call_id: "C-2041" },
};

dbTest(
  "consents: the agent, their manager and an admin read and record; newest first",
  async () => {
    const { customerId } = await createCase(farah);
    const path = `/customers/${customerId}/consents`;
    const empty = await expectJson(await api(path, { token: await tokenFor(farah) }), 200);
    assert.deepEqual(empty, {
      customer_id: customerId,
      current: [],
      history: [],
      next_cursor: null,
    });

    const given = await expectJson(
      await api(path, { token: await tokenFor(farah), method: "POST", body: grant }),
      201,
    );
    const [farahProfile] = await adminSql()`select id from public.profiles where email = ${farah}`;
    assert.equal(given.status, "granted");
    assert.equal(given.source, "agent_call");
    assert.deepEqual(given.evidence, { call_id: "C-2041" });
    assert.equal(given.notice_version, "2026-11", "the setting's notice version by default");
    assert.equal(given.recorded_by, farahProfile.id, "stamped with the caller");

    const withdrawn = await expectJson(
      await api(path, {
        token: await tokenFor(manager),
        method: "POST",
        body: { ...grant, status: "withdrawn", evidence: {}, notice_version: "2025-01" },
      }),
      201,
    );
    assert.equal(withdrawn.notice_version, "2025-01");

    const seen = await expectJson(await api(path, { token: await tokenFor(admin) }), 200);
    assert.deepEqual(
      seen.current.map((c: { channel: string; purpose: string; status: string }) =>
        `${c.channel}/${c.purpose}/${c.status}`
      ),
      ["email/marketing/withdrawn"],
      "the state is the latest row",
    );
    assert.deepEqual(
      seen.history.map((r: { id: number }) => r.id),
      [withdrawn.id, given.id],
      "the ledger keeps both, newest first",
    );
    const [state] = await adminSql()`
    select status from public.consents
     where customer_id = ${customerId} and channel = 'email' and purpose = 'marketing'`;
    assert.equal(state.status, "withdrawn", "public.consents follows the ledger");
  },
);

dbTest("consents: the ledger pages by cursor", async () => {
  const { customerId } = await createCase(farah);
  const path = `/customers/${customerId}/consents`;
  const token = await tokenFor(farah);
  const ids: number[] = [];
  for (const channel of ["sms", "whatsapp", "telegram"]) {
    ids.push(
      (await expectJson(
        await api(path, { token, method: "POST", body: { ...grant, channel } }),
        201,
      )).id,
    );
  }
  const first = await expectJson(await api(`${path}?limit=2`, { token }), 200);
  assert.deepEqual(first.history.map((r: { id: number }) => r.id), [ids[2], ids[1]]);
  assert.ok(first.next_cursor);
  const second = await expectJson(
    await api(`${path}?limit=2&cursor=${first.next_cursor}`, { token }),
    200,
  );
  assert.deepEqual(second.history.map((r: { id: number }) => r.id), [ids[0]]);
  assert.equal(second.next_cursor, null);
  await expectProblem(await api(`${path}?cursor=bm9wZQ`, { token }), 422);
});

dbTest("consents: another book's agent, an analyst and anonymous callers get nothing", async () => {
  const { customerId } = await createCase(farah);
  const path = `/customers/${customerId}/consents`;
  await expectJson(
    await api(path, { token: await tokenFor(farah), method: "POST", body: grant }),
    201,
  );
  const before = await ledgerSize(customerId);
  for (const who of [otherAgent, "analyst@py360.test"]) {
    await expectProblem(await api(path, { token: await tokenFor(who) }), 404);
    await expectProblem(
      await api(path, {
        token: await tokenFor(who),
        method: "POST",
        body: { ...grant, status: "withdrawn", evidence: {} },
      }),
      404,
    );
  }
  await expectProblem(await api(path), 401);
  await expectProblem(await api(path, { method: "POST", body: grant }), 401);
  await expectProblem(
    await api(`/customers/${crypto.randomUUID()}/consents`, { token: await tokenFor(admin) }),
    404,
  );
  assert.equal(await ledgerSize(customerId), before, "nothing was recorded");
});

dbTest("consents: a bad request is a 422 and records nothing", async () => {
  const { customerId } = await createCase(farah);
  const path = `/customers/${customerId}/consents`;
  const token = await tokenFor(farah);
  const bad: unknown[] = [
    { ...grant, channel: "pigeon" },
    { ...grant, purpose: "everything" },
    { ...grant, status: "maybe" },
    { ...grant, source: "Agent Call" },
    { ...grant, evidence: [] },
    { ...grant, evidence: {} }, // a grant needs its evidence (the database says so)
    { ...grant, source: "withdrawal_link", status: "withdrawn" }, // the system's source
    { ...grant, recorded_by: crypto.randomUUID() }, // not the client's to say
    { ...grant, notice_version: "" },
    { channel: "email" },
  ];
  for (const body of bad) {
    await expectProblem(await api(path, { token, method: "POST", body }), 422);
  }
  await expectProblem(
    await api(path, { token, method: "POST", body: JSON.stringify(grant), contentType: null }),
    415,
  );
  assert.equal(await ledgerSize(customerId), 0, "no ledger row");
  const [consents] = await adminSql()`
    select count(*)::int as n from public.consents where customer_id = ${customerId}`;
  assert.equal(consents.n, 0, "no consent");
});

dbTest(
  "consents: a grant over the customer's own STOP is a 409 problem that records nothing; a withdrawal the desk recorded, the desk may lift",
  async () => {
    const phone = `+9199${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
    const { customerId } = await createCase(farah, { phone });
    const path = `/customers/${customerId}/consents`;
    const token = await tokenFor(farah);
    await expectJson(
      await api(path, { token, method: "POST", body: { ...grant, channel: "sms" } }),
      201,
    );
    // The customer replies STOP, as Twilio's inbound webhook records it.
    await adminSql()`
      select private.record_message_events('twilio', ${
      adminSql().json([{
        event_key: `SM-stop-${customerId}`,
        kind: "inbound",
        channel: "sms",
        address: phone,
        reply: "STOP",
        occurred_at: "2026-11-30T04:30:00Z",
      }])
    })`;
    const before = await ledgerSize(customerId);
    for (const who of [farah, admin]) {
      const refused = await expectProblem(
        await api(path, {
          token: await tokenFor(who),
          method: "POST",
          body: { ...grant, channel: "sms", evidence: { call_id: "C-9001" } },
        }),
        409,
      );
      assert.equal(refused.code, "PY014");
      assert.equal(refused.title, "Customer Opted Out");
      assert.equal(
        refused.detail,
        `customer ${customerId} withdrew their marketing consent on sms themselves ` +
          "(sms_stop, 2026-11-30 10:00 IST): only the customer can give it again, not the desk " +
          "or an import",
      );
    }
    // Nor can the desk pass for the customer.
    await expectProblem(
      await api(path, {
        token,
        method: "POST",
        body: { ...grant, channel: "telegram", source: "telegram_start" },
      }),
      422,
    );
    assert.equal(await ledgerSize(customerId), before, "nothing was recorded");
    const [state] = await adminSql()`
      select status, source from public.consents
       where customer_id = ${customerId} and channel = 'sms' and purpose = 'marketing'`;
    assert.deepEqual({ ...state }, { status: "withdrawn", source: "sms_stop" });

    // Email: the agent noted the customer's phone request to stop offers, then to have them again.
    await expectJson(
      await api(path, {
        token,
        method: "POST",
        body: { ...grant, status: "withdrawn", evidence: {} },
      }),
      201,
    );
    const again = await expectJson(
      await api(path, {
        token,
        method: "POST",
        body: { ...grant, evidence: { call_id: "C-9002" } },
      }),
      201,
    );
    assert.equal(again.status, "granted");
  },
);
