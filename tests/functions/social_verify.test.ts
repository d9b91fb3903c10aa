// POST /api/integrations/social-media/verify (issue 12): is this customer reachable on that
// platform? X looks the handle up, Facebook a page-scoped id when one is given, LinkedIn says it
// cannot answer; only for customers the caller sees (404 otherwise), desk members only.
import assert from "node:assert/strict";
import { api, createCase, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import { assertNoToken, startSocialDesk } from "./_social.ts";

const desk = await startSocialDesk();
const mine = await createCase("arjun.agent@py360.test");
const agent = await tokenFor("arjun.agent@py360.test");
const otherAgent = await tokenFor("kavya.agent@py360.test");

const verify = (body: Record<string, unknown>, token = agent) =>
  api("/integrations/social-media/verify", { token, method: "POST", body });

dbTest(
  "social verify x: a handle X knows is reachable, one it does not is not; not connected is 409",
  async () => {
    await desk.fresh();
    await expectProblem(
      await verify({ platform: "x", customer_id: mine.customerId, handle: "asha_k" }),
      409,
    );
    await desk.connectFully("x");
    const user = await desk.control("x-users", { username: "asha_k", name: "Asha K" }) as {
      id: string;
    };
    const response = await verify({
      platform: "x",
      customer_id: mine.customerId,
      handle: "@Asha_K",
    });
    const text = await response.clone().text();
    const found = await expectJson(response, 200);
    assert.deepEqual(
      { answerable: found.answerable, reachable: found.reachable, account: found.account },
      {
        answerable: true,
        reachable: true,
        account: { id: user.id, name: "Asha K", username: "asha_k" },
      },
    );
    await assertNoToken(desk, text, "the verify answer");
    const missing = await expectJson(
      await verify({ platform: "x", customer_id: mine.customerId, handle: "nobody_here" }),
      200,
    );
    assert.equal(missing.answerable, true);
    assert.equal(missing.reachable, false);
    assert.match(missing.reason, /no user @nobody_here/);
    await expectProblem(await verify({ platform: "x", customer_id: mine.customerId }), 422);
    await expectProblem(
      await verify({ platform: "x", customer_id: mine.customerId, handle: "bad handle!" }),
      422,
    );
  },
);

dbTest("social verify facebook: a page-scoped id is looked up only when given", async () => {
  await desk.fresh();
  await desk.connectFully("facebook");
  const known = await expectJson(
    await verify({
      platform: "facebook",
      customer_id: mine.customerId,
      page_scoped_id: "10229384756019283",
    }),
    200,
  );
  assert.equal(known.reachable, true);
  assert.equal(known.account.id, "10229384756019283");
  const unknown = await expectJson(
    await verify({
      platform: "facebook",
      customer_id: mine.customerId,
      page_scoped_id: "555000111",
    }),
    200,
  );
  assert.deepEqual([unknown.answerable, unknown.reachable], [true, false]);
  const none = await expectJson(
    await verify({ platform: "facebook", customer_id: mine.customerId }),
    200,
  );
  assert.deepEqual([none.answerable, none.reachable], [false, null]);
  assert.match(none.reason, /page-scoped id/);
});

dbTest("social verify linkedin: says it cannot answer rather than guess", async () => {
  await desk.fresh();
  const answer = await expectJson(
    await verify({ platform: "linkedin", customer_id: mine.customerId }),
    200,
  );
  assert.equal(answer.answerable, false);
  assert.equal(answer.reachable, null);
  assert.match(answer.reason, /LinkedIn/);
  assert.match(answer.reason, /cannot be checked/);
});

dbTest(
  "social verify: another agent's customer or an unknown one is 404; analysts 403; WeChat 501",
  async () => {
    await desk.fresh();
    await desk.connectFully("x");
    await desk.control("x-users", { username: "asha_k" });
    const calls = async () =>
      ((await (await fetch(`${desk.sandbox.url}/_inspect/social/calls`)).json()) as {
        endpoint: string;
      }[])
        .filter((c) => c.endpoint.includes("by/username")).length;
    const before = await calls();
    await expectProblem(
      await verify({ platform: "x", customer_id: mine.customerId, handle: "asha_k" }, otherAgent),
      404,
    );
    await expectProblem(
      await verify({ platform: "linkedin", customer_id: mine.customerId }, otherAgent),
      404,
    );
    await expectProblem(
      await verify({ platform: "x", customer_id: crypto.randomUUID(), handle: "asha_k" }),
      404,
    );
    assert.equal(await calls(), before, "no lookup for a customer the caller cannot see");
    const analyst = await tokenFor("analyst@py360.test");
    await expectProblem(
      await verify({ platform: "linkedin", customer_id: mine.customerId }, analyst),
      403,
    );
    const wechat = await expectProblem(
      await verify({ platform: "wechat", customer_id: mine.customerId }),
      501,
    );
    assert.match(wechat.detail, /regional implementation/);
    // The admin sees every customer.
    await expectJson(
      await verify({ platform: "linkedin", customer_id: mine.customerId }, desk.admin),
      200,
    );
  },
);

dbTest("social verify: close the sandbox", async () => {
  await desk.close();
});
