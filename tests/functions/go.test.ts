// The `go` edge function: a tracked link's click answers 302 to the stored target and is counted;
// HEAD requests, link-preview fetchers and requests without a User-Agent are redirected but not
// counted; a malformed code never reaches the database; unknown, malformed and expired codes all
// get the same 404 and record nothing. Through the app in-process, and once through the gateway
// without a JWT, as the customer's phone reaches it.
import assert from "node:assert/strict";
import app, { createGoApp } from "../../functions/go/app.ts";
import { isPreviewBot, previewBots } from "../../functions/go/preview_bots.ts";
import { gatewayHandler, loadFunctions } from "../../scripts/gateway.ts";
import { adminSql, createCase, dbTest, expectProblem } from "./_helpers.ts";

const chrome = "Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) " +
  "Chrome/126.0.0.0 Mobile Safari/537.36";

/** A fresh case with a tracked link to `target`: its code and target. */
async function trackedLink(target = `https://rzp.io/i/go${crypto.randomUUID().slice(0, 8)}`) {
  const { caseId } = await createCase("farah.agent@py360.test");
  const [row] = await adminSql()`
    select private.tracked_link(${caseId}, ${target}, 'payment_link') as url`;
  const code = String(row.url).split("/").pop()!;
  assert.match(code, /^[0-9A-Za-z]{12}$/);
  return { code, target, caseId };
}

/** The link's counters and its click rows. */
async function clicksOf(code: string) {
  const [link] = await adminSql()`
    select l.click_count, l.first_clicked_at, l.last_clicked_at,
           coalesce((select array_agg(c.user_agent order by c.clicked_at) from public.link_clicks c
                      where c.tracked_link_id = l.id), '{}') as user_agents
      from public.tracked_links l where l.code = ${code}`;
  return link;
}

const allClicks = async () =>
  (await adminSql()`select count(*)::int as n from public.link_clicks`)[0].n as number;

const go = (path: string, init: RequestInit = {}) => app.request(`/go${path}`, init);

/** Asserts the redirect to `target` with the headers every answer carries, and no body. */
async function expectRedirect(response: Response, target: string) {
  assert.equal(response.status, 302);
  assert.equal(response.headers.get("location"), target);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  assert.equal(await response.text(), "");
}

dbTest("go: a click answers 302 to the stored target and is counted", async () => {
  const { code, target } = await trackedLink();
  await expectRedirect(await go(`/${code}`, { headers: { "user-agent": chrome } }), target);
  const once = await clicksOf(code);
  assert.equal(once.click_count, 1);
  assert.ok(once.first_clicked_at instanceof Date);
  assert.deepEqual(once.user_agents, [chrome]);

  // A query string changes nothing: still the stored target, counted again.
  const long = `${chrome} ${"x".repeat(300)}`;
  await expectRedirect(
    await go(`/${code}?next=https://evil.example`, { headers: { "user-agent": long } }),
    target,
  );
  const twice = await clicksOf(code);
  assert.equal(twice.click_count, 2);
  assert.deepEqual(twice.user_agents, [chrome, long.slice(0, 200)], "User-Agent cut to 200");
});

dbTest("go: preview fetchers, HEAD and no User-Agent get the 302 but are not counted", async () => {
  const { code, target } = await trackedLink();
  const previews = [
    "WhatsApp/2.24.12.78 A",
    "whatsapp/2.23.20.0 i", // any case
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) " +
    "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0", // iMessage
    "TelegramBot (like TwitterBot)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
  ];
  for (const ua of previews) {
    await expectRedirect(await go(`/${code}`, { headers: { "user-agent": ua } }), target);
  }
  await expectRedirect(
    await go(`/${code}`, { method: "HEAD", headers: { "user-agent": chrome } }),
    target,
  );
  await expectRedirect(await go(`/${code}`), target); // no User-Agent at all
  await expectRedirect(await go(`/${code}`, { headers: { "user-agent": "   " } }), target);
  const link = await clicksOf(code);
  assert.equal(link.click_count, 0, "none of them counted");
  assert.equal(link.first_clicked_at, null);
  assert.deepEqual(link.user_agents, []);

  // Then the customer's own tap is.
  await expectRedirect(await go(`/${code}`, { headers: { "user-agent": chrome } }), target);
  assert.equal((await clicksOf(code)).click_count, 1);
});

Deno.test("go: the preview-bot list matches its fetchers in any case, and browsers not", () => {
  for (const bot of previewBots) {
    assert.ok(isPreviewBot(`Mozilla/5.0 (compatible; ${bot.toUpperCase()}/1.0)`), bot);
    assert.ok(isPreviewBot(bot.toLowerCase()), bot);
  }
  for (
    const browser of [
      chrome,
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " +
      "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    ]
  ) {
    assert.equal(isPreviewBot(browser), false, browser);
  }
});

dbTest("go: unknown and malformed codes are 404 and record nothing", async () => {
  const before = await allClicks();
  const unknown = await go("/Zz9Zz9Zz9Zz9", { headers: { "user-agent": chrome } });
  const problem = await expectProblem(unknown, 404);
  assert.equal(problem.detail, "No such link, or it has expired.");
  assert.equal(unknown.headers.get("location"), null);
  assert.equal(unknown.headers.get("cache-control"), "no-store");

  // Malformed codes never reach the database: the same 404, and the lookup is not called.
  const asked: string[] = [];
  const spied = createGoApp({
    record: (code) => {
      asked.push(code);
      return Promise.resolve("https://evil.example/");
    },
  });
  const malformed = [
    `/${"A".repeat(33)}`, // too long
    "/short", // too short
    "/..%2F..%2Fapi%2Fme", // path traversal, encoded
    "/..%252F..%252Fapi", // double-encoded
    "/abcdef-ghij_kl", // not base62
    "/abcdefghijk%00", // a NUL
    "/abcdefghijk%0D%0ALocation:%20x", // header injection
    "/https%3A%2F%2Fevil.example", // a URL instead of a code
    "/Zz9Zz9Zz9Zz9/extra", // more segments
    "/", // no code
  ];
  for (const path of malformed) {
    for (const target of [app, spied]) {
      const response = await target.request(`/go${path}`, { headers: { "user-agent": chrome } });
      const body = await expectProblem(response, 404);
      assert.equal(body.detail, "No such link, or it has expired.", path);
      assert.equal(response.headers.get("location"), null, path);
    }
  }
  assert.deepEqual(asked, [], "no malformed code was looked up");
  // Dot segments are resolved before routing: /go/../api/... is not this function's path.
  const dotted = await go("/../api/health", { headers: { "user-agent": chrome } });
  assert.equal(dotted.status, 404);
  assert.equal(dotted.headers.get("location"), null);
  await dotted.body?.cancel();
  assert.equal(await allClicks(), before, "nothing recorded");
});

dbTest("go: an expired link is 404 and not counted", async () => {
  const { code } = await trackedLink();
  await adminSql()`
    update public.tracked_links set expires_at = now() - interval '1 minute' where code = ${code}`;
  await expectProblem(await go(`/${code}`, { headers: { "user-agent": chrome } }), 404);
  const head = await go(`/${code}`, { method: "HEAD", headers: { "user-agent": chrome } });
  assert.equal(head.status, 404);
  assert.equal((await clicksOf(code)).click_count, 0);
});

dbTest("go: served by the gateway without a JWT, as a customer's phone reaches it", async () => {
  const { code, target } = await trackedLink();
  const handle = gatewayHandler(await loadFunctions());
  const response = await handle(
    new Request(`http://127.0.0.1/functions/v1/go/${code}`, { headers: { "user-agent": chrome } }),
  );
  await expectRedirect(response, target);
  assert.equal((await clicksOf(code)).click_count, 1);
});
