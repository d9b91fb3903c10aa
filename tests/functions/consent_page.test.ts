// The withdrawal page (functions/consent) in a real browser: Debian's Chromium, headless, driven
// by playwright-core, with no network but this machine, through the functions gateway as a
// customer's phone would reach it. Both languages render (the customer's, and ?lang=), the page
// loads nothing from elsewhere and breaks no rule of its Content-Security-Policy (its style
// applies, no console error), one tap withdraws marketing on every channel, and the same link
// tapped again (a second tab, a reload) is refused with nothing changed.
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { chromiumFlags, chromiumPath, isLocal } from "./_chromium.ts";
import { serveGateway } from "../../scripts/gateway.ts";
import { dbTest } from "./_helpers.ts";
import { ledgerSize, linkFixture, marketingState, tamper } from "./_consent_links.ts";

/** What a browser session saw: requests that went elsewhere, errors and console lines. */
interface Session {
  context: BrowserContext;
  base: string;
  elsewhere: string[];
  errors: string[];
}

/** Runs `fn` with a gateway on a free port and a fresh headless Chromium profile. */
async function withBrowser(fn: (session: Session) => Promise<void>) {
  const gateway = await serveGateway(0);
  const profile = await Deno.makeTempDir({ prefix: "py360-chromium-" });
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 420, height: 800 },
    });
    const session: Session = {
      context,
      base: `http://127.0.0.1:${gateway.port}/functions/v1/consent`,
      elsewhere: [],
      errors: [],
    };
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (isLocal(url)) return route.continue();
      session.elsewhere.push(url.href);
      return route.abort("internetdisconnected");
    });
    context.on("page", (page) => watch(session, page));
    await fn(session);
    assert.deepEqual(session.elsewhere, [], "nothing loaded from elsewhere");
    assert.deepEqual(session.errors, [], "no console error (a CSP violation would be one)");
  } finally {
    await context?.close();
    await gateway.shutdown();
    await Deno.remove(profile, { recursive: true });
  }
}

function watch(session: Session, page: Page) {
  page.on("console", (message) => {
    // A refused link is a 404 or 410 page by design; the browser logs its status as an error.
    const refusedPage = /^Failed to load resource: the server responded with a status of 4(04|10)/;
    if (message.type() === "error" && !refusedPage.test(message.text())) {
      session.errors.push(message.text());
    }
  });
  page.on("pageerror", (error) => session.errors.push(String(error)));
}

/** What the page shows: its kind, language, heading, button and the button's background. */
async function shown(page: Page) {
  return {
    kind: await page.getAttribute("body", "data-page"),
    lang: await page.getAttribute("html", "lang"),
    title: (await page.textContent("h1"))?.trim(),
    button: (await page.locator("button").count()) > 0
      ? (await page.textContent("button"))?.trim()
      : null,
    buttonColour: (await page.locator("button").count()) > 0
      ? await page.$eval("button", (b) => getComputedStyle(b).backgroundColor)
      : null,
  };
}

/** The browser's globals used inside $eval (Deno has no DOM types). */
declare function getComputedStyle(element: unknown): { backgroundColor: string };

dbTest(
  "consent page: English and Hindi render, one tap withdraws, the link then refused",
  async () => {
    const f = await linkFixture("farah.agent@py360.test", "en");
    await withBrowser(async ({ context, base }) => {
      const link = `${base}/w/${f.token}`;
      const page = await context.newPage();
      const first = await page.goto(link);
      assert.equal(first?.status(), 200);
      assert.equal(
        first?.headers()["content-security-policy"]?.startsWith("default-src 'none'"),
        true,
      );
      assert.deepEqual(await shown(page), {
        kind: "ask",
        lang: "en",
        title: "Stop offers from Py360?",
        button: "Stop offers",
        buttonColour: "rgb(179, 38, 30)",
      }, "the customer's language, styled under the CSP");

      await page.click("nav a");
      assert.deepEqual(await shown(page), {
        kind: "ask",
        lang: "hi",
        title: "Py360 से ऑफ़र बंद करें?",
        button: "ऑफ़र बंद करें",
        buttonColour: "rgb(179, 38, 30)",
      }, "?lang=hi: the same page in Hindi");
      assert.match(page.url(), /\?lang=hi$/);

      // A second tab holding the same form, to tap again afterwards.
      const second = await context.newPage();
      await second.goto(link);
      assert.equal(await second.getAttribute("body", "data-page"), "ask");

      assert.deepEqual(await marketingState(f.customerId), [
        "sms:granted:web_form",
        "email:granted:web_form",
        "whatsapp:granted:web_form",
        "telegram:granted:web_form",
        "voice:granted:web_form",
      ]);
      const [tapped] = await Promise.all([
        page.waitForNavigation(),
        page.click("button"),
      ]);
      assert.equal(tapped?.status(), 200);
      assert.deepEqual(await shown(page), {
        kind: "withdrawn",
        lang: "hi",
        title: "ऑफ़र बंद हो गए",
        button: null,
        buttonColour: null,
      });
      const withdrawn = [
        "sms:withdrawn:withdrawal_link",
        "email:withdrawn:withdrawal_link",
        "whatsapp:withdrawn:withdrawal_link",
        "telegram:withdrawn:withdrawal_link",
        "voice:withdrawn:withdrawal_link",
      ];
      assert.deepEqual(await marketingState(f.customerId), withdrawn, "the consents changed");
      const size = await ledgerSize(f.customerId);

      const [again] = await Promise.all([second.waitForNavigation(), second.click("button")]);
      assert.equal(again?.status(), 410, "the same link tapped again is refused");
      assert.equal(await second.getAttribute("body", "data-page"), "used");
      const reload = await page.goto(link);
      assert.equal(reload?.status(), 410);
      assert.equal((await shown(page)).title, "This link was already used");
      assert.equal(await ledgerSize(f.customerId), size, "nothing written by the refusals");
      assert.deepEqual(await marketingState(f.customerId), withdrawn);
    });
  },
);

dbTest("consent page: a Hindi speaker's link opens in Hindi; a forged one is refused", async () => {
  const f = await linkFixture("farah.agent@py360.test", "hi");
  await withBrowser(async ({ context, base }) => {
    const page = await context.newPage();
    assert.equal((await page.goto(`${base}/w/${f.token}`))?.status(), 200);
    assert.deepEqual(await shown(page), {
      kind: "ask",
      lang: "hi",
      title: "Py360 से ऑफ़र बंद करें?",
      button: "ऑफ़र बंद करें",
      buttonColour: "rgb(179, 38, 30)",
    });
    assert.equal((await page.goto(`${base}/w/${f.token}?lang=en`))?.status(), 200);
    assert.equal((await shown(page)).title, "Stop offers from Py360?");

    const forged = await page.goto(`${base}/w/${tamper(f.token, 10)}?lang=hi`);
    assert.equal(forged?.status(), 404);
    assert.deepEqual(await shown(page), {
      kind: "invalid",
      lang: "hi",
      title: "यह लिंक मान्य नहीं है",
      button: null,
      buttonColour: null,
    });
    assert.equal((await page.goto(`${base}/w/not-a-token`))?.status(), 404);
    assert.equal((await shown(page)).title, "This link is not valid");
    assert.equal(
      (await marketingState(f.customerId)).every((s) => s.endsWith(":granted:web_form")),
      true,
      "nothing withdrawn",
    );
  });
});
