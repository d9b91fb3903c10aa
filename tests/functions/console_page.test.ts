// The ops console (functions/console) in a real browser: Debian's Chromium, headless, driven by
// playwright-core, with no network but this machine. The page signs in with a token, reads the
// api function and draws its charts; each chart's data, read from the page through Chart.js
// (Chart.getChart(canvas).data), must equal what the API answers the same caller. Admins see
// everything, a manager only their subtree, an agent a refusal. Nothing may be loaded from
// elsewhere, nothing logged as an error, and the token never appears in a URL or a log.
// Screenshots are kept for a person to look at; their paths are printed.
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { chromiumFlags, chromiumPath, isLocal } from "./_chromium.ts";
import { serveGateway } from "../../scripts/gateway.ts";
import { assetFiles, chartBundle, chartJsVersion } from "../../functions/console/assets.ts";
import { projectRoot, tryRun } from "../../scripts/lib/run.ts";
import { consoleContentSecurityPolicy } from "../../functions/console/page.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  signedToken,
  tokenFor,
} from "./_helpers.ts";
import { createTemplate, enqueue, grantConsent, setMessages } from "./_messaging.ts";

/** The little of the browser's globals the page functions below use (Deno has no DOM types). */
interface Element {
  id: string;
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  hidden: boolean;
  querySelector(selector: string): Element | null;
  querySelectorAll(selector: string): Iterable<Element>;
}
interface Dom {
  document: Element & { body: Element; getElementById(id: string): Element | null };
  Chart: {
    getChart(canvas: Element | null):
      | { data: { labels: unknown[]; datasets: { label: string; data: unknown[] }[] } }
      | undefined;
  };
  sessionStorage: { getItem(key: string): string | null };
  location: { href: string };
}

/** An answer of the api function to the page: its path under /api, query, status and body. */
interface Answer {
  path: string;
  search: URLSearchParams;
  status: number;
  authorization: string | undefined;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** What a browser session saw: every request, what went elsewhere, errors and console lines. */
interface Session {
  page: Page;
  base: string;
  /** The api function's answers to the page, in order (read once openConsole returns). */
  answers: Answer[];
  reading: Promise<void>[];
  requests: string[];
  elsewhere: string[];
  errors: string[];
  logs: string[];
  shots: string;
}

/** Runs `fn` with a gateway on a free port and a fresh headless Chromium profile. */
async function withBrowser(fn: (session: Session) => Promise<void>) {
  const gateway = await serveGateway(0);
  const profile = await Deno.makeTempDir({ prefix: "py360-chromium-" });
  const shots = await Deno.makeTempDir({ prefix: "py360-console-page-" });
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 1400, height: 1100 },
    });
    const session: Session = {
      page: undefined as unknown as Page,
      base: `http://127.0.0.1:${gateway.port}/functions/v1`,
      answers: [],
      reading: [],
      requests: [],
      elsewhere: [],
      errors: [],
      logs: [],
      shots,
    };
    // Every request the page makes is seen here; anything not on this machine is refused.
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (isLocal(url)) {
        session.requests.push(url.href);
        return route.continue();
      }
      session.elsewhere.push(url.href);
      return route.abort("internetdisconnected");
    });
    const page = await context.newPage();
    page.on("console", (message) => {
      session.logs.push(message.text());
      if (message.type() === "error") session.errors.push(message.text());
    });
    page.on("pageerror", (error) => session.errors.push(String(error)));
    page.on("response", (response) => {
      const url = new URL(response.url());
      if (!url.pathname.startsWith("/functions/v1/api/")) return;
      session.reading.push((async () => {
        const answer: Answer = {
          path: url.pathname.slice("/functions/v1/api".length),
          search: url.searchParams,
          status: response.status(),
          authorization: (await response.request().allHeaders()).authorization,
          body: await response.json().catch(() => null),
        };
        session.answers.push(answer);
      })());
    });
    session.page = page;
    await fn(session);
  } finally {
    await context?.close();
    await gateway.shutdown();
    await Deno.remove(profile, { recursive: true });
  }
}

/** Opens the console with `token` in the URL fragment and waits until every panel settled. */
async function openConsole(session: Session, token: string) {
  const response = await session.page.goto(
    `${session.base}/console#token=${encodeURIComponent(token)}`,
    { waitUntil: "load" },
  );
  assert.equal(response?.status(), 200);
  assert.equal(response?.headers()["content-security-policy"], consoleContentSecurityPolicy);
  await session.page.waitForFunction(
    () => {
      const { document } = globalThis as unknown as Dom;
      return document.body.dataset.access === "refused" ||
        (document.body.dataset.loaded === "true" &&
          [...document.querySelectorAll(".panel")].every((panel) =>
            panel.dataset.state !== "loading"
          ));
    },
    undefined,
    { timeout: 60_000 },
  );
  await Promise.all(session.reading);
}

/** Each panel's state and status text, by panel id. */
function panelStates(page: Page) {
  return page.evaluate(() => {
    const { document } = globalThis as unknown as Dom;
    return Object.fromEntries(
      [...document.querySelectorAll(".panel")].map((panel) => [
        panel.id,
        `${panel.dataset.state}: ${panel.querySelector(".status")?.textContent ?? ""}`,
      ]),
    );
  });
}

/** The data of the chart drawn on canvas `id`, as Chart.js holds it (null without a chart). */
/** A chart's data as Chart.js holds it: labels and each dataset's label and values. */
interface ChartData {
  labels: unknown[];
  datasets: { label: string; data: unknown[] }[];
}

function chartData(page: Page, id: string): Promise<ChartData | null> {
  return page.evaluate((canvasId) => {
    const { document, Chart } = globalThis as unknown as Dom;
    const chart = Chart.getChart(document.getElementById(canvasId));
    if (!chart) return null;
    return {
      labels: chart.data.labels,
      datasets: chart.data.datasets.map((set) => ({
        label: set.label,
        data: set.data,
      })),
    };
  }, id);
}

/** The texts of column `column` of the body rows of table `id`. */
function tableColumn(page: Page, id: string, column: number) {
  return page.evaluate(([tableId, i]) => {
    const { document } = globalThis as unknown as Dom;
    return [...document.querySelectorAll(`#${tableId} tbody tr`)].map((row) =>
      [...row.querySelectorAll("td")][i as number]?.textContent ?? null
    );
  }, [id, column] as const);
}

/** Asserts the session loaded nothing from elsewhere, logged no error and leaked no token. */
function assertClean(session: Session, token: string) {
  assert.deepEqual(session.elsewhere, [], "the page asked for nothing beyond this machine");
  assert.deepEqual(session.errors, [], "no script errors, refused loads or CSP violations");
  const leaks = [...session.requests, ...session.logs].filter((line) => line.includes(token));
  assert.deepEqual(leaks, [], "the token is in no URL and no console line");
}

async function screenshot(session: Session, name: string) {
  const path = `${session.shots}/${name}.png`;
  await session.page.screenshot({ path, fullPage: true });
  console.log(`console page screenshot: ${path}`);
  assert.ok((await Deno.stat(path)).size > 10_000, "a screenshot with something on it");
}

// ------------------------------------------------------------------ the data the page shows

interface ConsoleSeed {
  /** Today, the IST business day. */
  today: string;
  /** Cases due today seeded under North Zone (Arjun's), by stage. */
  northToday: Record<string, number>;
  /** The days (the five before today, and today) with delivered messages on every channel. */
  messageDays: string[];
  /** A day with SMS of Kavya's (Bengaluru, South Zone) only. */
  southOnlyDay: string;
  /** The monthly budgets set, paise by provider. */
  budgets: Record<string, number>;
  /** SMS queued for tomorrow (scheduled: nobody claims them). */
  queuedTwilio: number;
  cleanUp: () => Promise<void>;
}

/**
 * What the console shows, made for the test: cases due today for Arjun (Connaught Place, North)
 * and Kavya (Bengaluru, South); on the five days before today and today, SMS, WhatsApp and email of
 * Arjun's customer sent and mostly delivered (latencies of seconds), SMS of Kavya's customer on
 * a day of its own; SMS scheduled for tomorrow; monthly budgets with aws_ses's small enough that
 * the spend alert opens. Facts are rebuilt and the alert rules evaluated, as pg_cron would.
 * cleanUp() removes the messages, moves the cases' due dates back to createCase's, restores the
 * budgets, rebuilds and evaluates again (the alert resolves).
 */
async function seedConsole(): Promise<ConsoleSeed> {
  const sql = adminSql();
  const [{ today }] = await sql<{ today: string }[]>`
    select private.business_date(now())::text as today`;
  const northToday = { new: 1, contacted: 1, quoted: 1 };
  const arjun = [];
  for (const [stage, count] of Object.entries(northToday)) {
    for (let i = 0; i < count; i++) {
      arjun.push(await createCase("arjun.agent@py360.test", { stage }));
    }
  }
  const kavya = [
    await createCase("kavya.agent@py360.test", { stage: "quoted" }),
    await createCase("kavya.agent@py360.test"),
  ];
  const caseIds = [...arjun, ...kavya].map((c) => c.caseId);
  await sql`update public.renewal_cases set due_date = ${today} where id = any(${caseIds}::uuid[])`;

  const customer = arjun[0].customerId;
  await sql`update public.customers set email = ${`console.${customer.slice(0, 8)}@mail.py360.test`}
             where id = ${customer}`;
  for (const channel of ["sms", "whatsapp", "email"]) await grantConsent(customer, channel);
  await grantConsent(kavya[0].customerId, "sms");
  const sms = await createTemplate();
  const whatsapp = await createTemplate({ channel: "whatsapp", body: "Hi {{customer_name}}" });
  const email = await createTemplate({ channel: "email", body: "Dear {{customer_name}}" });
  const providers = Object.fromEntries(
    (await sql<{ type: string; provider: string }[]>`
      select type::text, provider from public.channels
       where name in ('SMS reminders', 'WhatsApp reminders', 'Email reminders')`)
      .map((row) => [row.type, row.provider]),
  );
  const templates: Record<string, string> = {
    sms: sms.code,
    whatsapp: whatsapp.code,
    email: email.code,
  };

  const days = daysEnding(today, 8);
  const messageDays = days.slice(2); // the five days before today, and today
  const southOnlyDay = days[0];
  /** Noon IST of `day`, or a minute ago for today (it may be before noon). */
  const queuedAt = (day: string) =>
    day === today ? new Date(Date.now() - 60_000) : new Date(`${day}T06:30:00Z`);
  const after = (start: Date, seconds: number) => new Date(start.getTime() + seconds * 1000);
  const messageIds: string[] = [];
  const put = async (
    { customerId, caseId }: { customerId: string; caseId: string },
    channel: string,
    day: string,
    outcomes: ("delivered" | "sent")[],
  ) => {
    const ids = await enqueue(outcomes.map(() => ({
      customer_id: customerId,
      case_id: caseId,
      channel: channel as "sms",
      template_code: templates[channel],
    })));
    messageIds.push(...ids);
    const start = queuedAt(day);
    for (const [i, id] of ids.entries()) {
      const delivered = outcomes[i] === "delivered";
      await setMessages([id], {
        created_at: start,
        queued_at: start,
        provider: providers[channel],
        status: outcomes[i],
        sent_at: after(start, 1 + i),
        delivered_at: delivered
          ? after(
            start,
            4 + 3 * i + messageDays.indexOf(day) + 5 * Object.keys(templates).indexOf(channel),
          )
          : null,
        estimated_cost_paise: 25,
        blocked_reason: null,
      });
    }
  };
  // Each channel its own rate, so the lines differ: SMS 2 of 3, WhatsApp 3 of 4, email 1 of 2.
  const outcomes: Record<string, ("delivered" | "sent")[]> = {
    sms: ["delivered", "delivered", "sent"],
    whatsapp: ["delivered", "delivered", "delivered", "sent"],
    email: ["delivered", "sent"],
  };
  for (const day of messageDays) {
    for (const [channel, list] of Object.entries(outcomes)) await put(arjun[0], channel, day, list);
  }
  await put(kavya[0], "sms", southOnlyDay, ["delivered", "sent"]);
  const queued = await enqueue(
    [1, 2].map(() => ({ customer_id: customer, template_code: sms.code })),
  );
  messageIds.push(...queued);
  const tomorrow = new Date(Date.now() + 86_400_000);
  await setMessages(queued, {
    status: "queued",
    provider: "twilio",
    next_attempt_at: tomorrow,
    blocked_reason: null,
  });

  // ₹12, ₹9 and 40 paise: near the spend of these messages (25 paise each), and aws_ses over
  // 80 % of its budget even on the first of a month (today's two emails alone).
  const budgets = { twilio: 1200, whatsapp_cloud: 900, aws_ses: 40 };
  const [{ value: budgetsBefore }] = await sql<{ value: unknown }[]>`
    select value from public.app_settings where key = 'VENDOR_MONTHLY_BUDGET_PAISE'`;
  await sql`update public.app_settings set value = ${sql.json(budgets)}
             where key = 'VENDOR_MONTHLY_BUDGET_PAISE'`;
  await sql`select private.rebuild_analytics(${days[0]}::date, ${today}::date)`;
  await sql`select private.evaluate_alerts(now())`;

  return {
    today,
    northToday,
    messageDays,
    southOnlyDay,
    budgets,
    queuedTwilio: queued.length,
    cleanUp: async () => {
      await sql`delete from public.messages where id = any(${messageIds}::uuid[])`;
      // Back to createCase's due date (its grace end, 25 days ahead), as other tests leave theirs.
      await sql`update public.renewal_cases set due_date = grace_end
                 where id = any(${caseIds}::uuid[])`;
      await sql`update public.app_settings set value = ${sql.json(budgetsBefore as string)}
                 where key = 'VENDOR_MONTHLY_BUDGET_PAISE'`;
      await sql`select private.rebuild_analytics(${days[0]}::date, ${today}::date + 25)`;
      await sql`select private.evaluate_alerts(now())`;
    },
  };
}

// ------------------------------------------------------------------ the function's own files

dbTest("console: the page and its files come from the function, cached by version", async () => {
  const gateway = await serveGateway(0);
  try {
    assert.ok(gateway.functions.includes("console"), "registered in supabase/config.toml");
    const base = `http://127.0.0.1:${gateway.port}/functions/v1/console`;
    const page = await fetch(base);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(page.headers.get("content-security-policy"), consoleContentSecurityPolicy);
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    const html = await page.text();
    assert.ok(!/https?:\/\//.test(html), "no absolute URLs in the page");
    assert.ok(!/<script>|<script [^>]*>[^<]/.test(html), "no inline script");
    assert.ok(!/<style|style="/.test(html), "no inline style");
    const links = [...html.matchAll(/(?:src|href)="\.\/console(\/assets\/[^"]+)"/g)].map((m) =>
      m[1]
    );
    assert.deepEqual(
      links.map((link) => link.replace(/-[0-9a-f]{16}\./, "-HASH.")),
      [
        "/assets/console-HASH.css",
        `/assets/chart-${chartJsVersion}.umd.js`,
        "/assets/console-HASH.js",
      ],
    );
    for (const link of links) {
      const response = await fetch(`${base}${link}`, { headers: { "accept-encoding": "gzip" } });
      assert.equal(response.status, 200, link);
      assert.match(response.headers.get("cache-control") ?? "", /immutable/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.match(
        response.headers.get("content-type") ?? "",
        link.endsWith(".css") ? /^text\/css/ : /^text\/javascript/,
      );
      const served = new Uint8Array(await response.arrayBuffer()); // fetch undoes the gzip
      const file = link.includes("/chart-")
        ? chartBundle.file
        : `functions/console/static/${link.endsWith(".css") ? "console.css" : "console.js"}`;
      const local = await Deno.readFile(new URL(`../../${file}`, import.meta.url));
      assert.deepEqual(served, local, `${link} is ${file} as it is`);
    }
    assert.match(
      new TextDecoder().decode(
        await Deno.readFile(new URL(`../../${chartBundle.file}`, import.meta.url)),
      ).slice(0, 200),
      new RegExp(`Chart\\.js v${chartJsVersion.replaceAll(".", "\\.")}`),
      "the bundle is the pinned version's",
    );

    const stale = await fetch(`${base}/assets/console-0000000000000000.js`);
    assert.equal(stale.status, 404, "only the current hash is served");
    await stale.body?.cancel();
    const slash = await fetch(`${base}/`, { redirect: "manual" });
    assert.equal(slash.status, 308);
    assert.equal(slash.headers.get("location"), "../console", "back to the page, relatively");
    await slash.body?.cancel();
  } finally {
    await gateway.shutdown();
  }
});

// ------------------------------------------------------------------ the API the page reads

/**
 * What the page's script reads of each answer, field by field (`a.b`, `list[].c`), and the query
 * parameters it sends: the page is written against these operations' OpenAPI schemas.
 */
const pageReads: { path: string; query: string[]; fields: string[] }[] = [
  { path: "/me", query: [], fields: ["full_name", "role", "node.id", "node.name"] },
  {
    path: "/hierarchy",
    query: [],
    fields: ["data[].id", "data[].name", "data[].level", "data[].children[].id"],
  },
  {
    path: "/hierarchy/{nodeId}/performance",
    query: ["from", "to"],
    fields: [
      "node.name",
      "cases.due",
      "renewal_rate",
      "by_stage[].stage",
      "by_stage[].cases",
      "premium.due_paise",
      "premium.collected_paise",
      "facts_as_of",
      "children[].node.name",
      "children[].cases.due",
      "children[].cases.renewed",
      "children[].renewal_rate",
      "children[].premium.due_paise",
      "children[].premium.collected_paise",
      "children[].sla.breaches",
    ],
  },
  { path: "/channels", query: [], fields: ["data[].id", "data[].type", "data[].name"] },
  {
    path: "/channels/{id}/performance",
    query: ["from", "to", "granularity"],
    fields: [
      "series[].start",
      "series[].sent",
      "series[].delivered",
      "series[].p95_delivered_seconds",
    ],
  },
  {
    path: "/health",
    query: [],
    fields: [
      "database",
      "messaging.window_minutes",
      "messaging.spend_as_of",
      ...[
        "provider",
        "enabled",
        "configured",
        "breaker",
        "error_rate_percent",
        "p95_send_ms",
        "daily_quota",
        "used_today",
        "spend_month_paise",
        "budget_paise",
        "budget_used_percent",
        "queued",
        "due",
      ].map((field) => `messaging.providers[].${field}`),
      ...["queued", "due", "sending", "oldest_due_age_seconds"].map((f) => `messaging.queue.${f}`),
    ],
  },
  {
    path: "/alerts",
    query: ["status"],
    fields: [
      "data[].rule",
      "data[].subject",
      "data[].summary",
      "data[].raised_at",
      "data[].last_seen_at",
      "open",
    ],
  },
];

/** An OpenAPI schema object, as far as this walk needs it. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
}

dbTest("console: every field the page reads is in the API's OpenAPI document", async () => {
  const document = await expectJson(await api("/openapi.json"), 200);
  const resolve = (schema: Schema): Schema =>
    schema.$ref
      ? resolve(document.components.schemas[schema.$ref.replace("#/components/schemas/", "")])
      : schema;
  /** The schemas a value of `schema` may take (through refs, allOf / anyOf / oneOf). */
  const variants = (schema: Schema): Schema[] => {
    const resolved = resolve(schema);
    const members = [...resolved.allOf ?? [], ...resolved.anyOf ?? [], ...resolved.oneOf ?? []];
    return [resolved, ...members.flatMap(variants)];
  };
  const step = (schema: Schema, key: string): Schema | undefined =>
    variants(schema).map((variant) => key === "[]" ? variant.items : variant.properties?.[key])
      .find((found) => found !== undefined);

  for (const read of pageReads) {
    const operation = document.paths[`/api${read.path}`]?.get;
    assert.ok(operation, `the API documents GET ${read.path}`);
    const parameters = (operation.parameters ?? []) as { in: string; name: string }[];
    for (const name of read.query) {
      assert.ok(
        parameters.some((parameter) => parameter.in === "query" && parameter.name === name),
        `GET ${read.path} takes ?${name}`,
      );
    }
    const answer: Schema = operation.responses["200"].content["application/json"].schema;
    for (const field of read.fields) {
      const keys = field.replaceAll("[]", ".[]").split(".");
      let schema: Schema | undefined = answer;
      for (const key of keys) schema = schema && step(schema, key);
      assert.ok(schema, `GET ${read.path} answers ${field}`);
    }
  }
});

// ------------------------------------------------------------------ in the browser

/** The last answer of the api function to the page for a path matching `path`. */
function answerTo(session: Session, path: RegExp): Answer {
  const found = session.answers.findLast((answer) => path.test(answer.path));
  assert.ok(found, `the page called ${path}: ${session.answers.map((a) => a.path).join(", ")}`);
  assert.equal(found.status, 200, `${found.path}: ${JSON.stringify(found.body)}`);
  return found;
}

const istDay = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Kolkata" });

/** `count` IST days ending with `last` (YYYY-MM-DD), oldest first. */
function daysEnding(last: string, count: number): string[] {
  const [y, m, d] = last.split("-").map(Number);
  return Array.from(
    { length: count },
    (_, i) => new Date(Date.UTC(y, m - 1, d - (count - 1 - i))).toISOString().slice(0, 10),
  );
}

interface NodeFigures {
  node: { id: string; name: string };
  cases: { due: number };
  by_stage: { stage: string; cases: number }[];
  children: NodeFigures[];
}
interface SeriesPoint {
  start: string;
  sent: number;
  delivered: number;
  p95_delivered_seconds: number | null;
}
interface Channel {
  id: string;
  type: string;
  name: string;
}
interface ProviderHealth {
  provider: string;
  breaker: string;
  spend_month_paise: string;
  budget_paise: number | null;
  queued: number;
  due: number;
}

/** The funnel chart's data as the page must draw it from a node's performance. */
const funnelOf = (performance: NodeFigures) => ({
  labels: performance.by_stage.map((row) => row.stage),
  data: performance.by_stage.map((row) => row.cases),
});

/**
 * Asserts the two line charts hold, per message channel of the page's GET /channels, the daily
 * delivery rate and p95 of that channel's report as the page received it; returns them by name.
 */
async function assertChannelCharts(session: Session, today: string) {
  const days = daysEnding(today, 30);
  const channels = (answerTo(session, /^\/channels$/).body.data as Channel[])
    .filter((channel) => ["sms", "email", "whatsapp"].includes(channel.type));
  assert.ok(channels.length >= 3, "the SMS, email and WhatsApp channels");
  const delivery = await chartData(session.page, "delivery-chart");
  const latency = await chartData(session.page, "latency-chart");
  assert.ok(delivery && latency, "both line charts are drawn");
  assert.deepEqual(delivery.labels, days, "30 IST days ending today");
  assert.deepEqual(latency.labels, days);
  const byName: Record<string, { rate: (number | null)[]; p95: (number | null)[] }> = {};
  for (const channel of channels) {
    const report = answerTo(session, new RegExp(`^/channels/${channel.id}/performance$`));
    assert.equal(report.search.get("granularity"), "day");
    assert.equal(report.search.get("from"), days[0]);
    assert.equal(report.search.get("to"), today);
    const series = report.body.series as SeriesPoint[];
    assert.equal(series.length, 30, "a point per day");
    const byDay = new Map(series.map((point) => [istDay.format(new Date(point.start)), point]));
    const rate = days.map((day) => {
      const point = byDay.get(day);
      return point && point.sent > 0 ? Math.round(point.delivered / point.sent * 1000) / 10 : null;
    });
    const p95 = days.map((day) => byDay.get(day)?.p95_delivered_seconds ?? null);
    const drawnRate: ChartData["datasets"][number] | undefined = delivery.datasets.find((set) =>
      set.label === channel.name
    );
    const drawnP95: ChartData["datasets"][number] | undefined = latency.datasets.find((set) =>
      set.label === channel.name
    );
    assert.deepEqual(drawnRate?.data, rate, `${channel.name}: delivered of sent per day`);
    assert.deepEqual(drawnP95?.data, p95, `${channel.name}: p95 queue to delivered per day`);
    byName[channel.name] = { rate, p95 };
  }
  assert.equal(delivery.datasets.length, channels.length, "a line per channel, no other");
  return { days, byName };
}

dbTest("console page: an admin sees every panel drawn from the API's answers", async () => {
  const seed = await seedConsole();
  const token = await tokenFor("admin@py360.test");
  try {
    await withBrowser(async (session) => {
      await openConsole(session, token);
      const states = await panelStates(session.page);
      for (const [panel, state] of Object.entries(states)) {
        assert.match(state, /^ready/, `${panel} is drawn: ${state}`);
      }
      assert.equal(await session.page.url(), `${session.base}/console`, "token gone from the URL");
      assert.equal(
        await session.page.evaluate(() =>
          (globalThis as unknown as Dom).sessionStorage.getItem("py360.console.token")
        ),
        token,
        "kept in the tab's sessionStorage",
      );
      for (const answer of session.answers) {
        assert.equal(answer.authorization, `Bearer ${token}`, `${answer.path} sent the token`);
      }

      // The funnel: North Zone's cohort of today by stage. The page opens on the first top node;
      // other tests' zones may sort before North Zone, and then it is chosen in the list.
      const tree = answerTo(session, /^\/hierarchy$/).body.data as { id: string; name: string }[];
      const northZone = tree.find((node) => node.name === "North Zone");
      assert.ok(northZone, "North Zone is a top node");
      if (tree[0].id !== northZone.id) {
        const redrawn = session.page.waitForResponse((response) =>
          response.url().includes(`/api/hierarchy/${northZone.id}/performance?`)
        );
        await session.page.selectOption("#node", northZone.id);
        await redrawn;
        await session.page.waitForFunction(() => {
          const { document } = globalThis as unknown as Dom;
          return document.querySelector("#funnel-panel")?.dataset.state === "ready";
        });
        await Promise.all(session.reading);
      }
      const funnelAnswer = answerTo(session, /^\/hierarchy\/[^/]+\/performance$/);
      assert.equal(funnelAnswer.path, `/hierarchy/${northZone.id}/performance`);
      assert.equal(funnelAnswer.search.get("from"), seed.today);
      assert.equal(funnelAnswer.search.get("to"), seed.today);
      const north = funnelAnswer.body as NodeFigures;
      const funnel = await chartData(session.page, "funnel-chart");
      assert.deepEqual(
        { labels: funnel?.labels, data: funnel?.datasets[0].data },
        funnelOf(north),
        "the funnel is the API's cases by stage",
      );
      const stageCount = (stage: string) =>
        north.by_stage.find((row) => row.stage === stage)?.cases ?? 0;
      for (const [stage, cases] of Object.entries(seed.northToday)) {
        assert.ok(stageCount(stage) >= cases, `at least the ${cases} seeded ${stage} case(s)`);
      }
      assert.deepEqual(
        await tableColumn(session.page, "funnel-children", 0),
        north.children.map((child) => child.node.name),
        "each child node side by side",
      );

      // Delivery and latency per channel: the API's series, with the seeded days in them.
      const { days, byName } = await assertChannelCharts(session, seed.today);
      for (const name of ["SMS reminders", "WhatsApp reminders", "Email reminders"]) {
        for (const day of seed.messageDays) {
          const i = days.indexOf(day);
          assert.ok(byName[name].rate[i] !== null, `${name} ${day}: a delivery rate`);
          assert.ok(byName[name].p95[i] !== null, `${name} ${day}: a latency`);
        }
      }

      // Vendors, spend vs budget, queue: the health answer's messaging section.
      const health = answerTo(session, /^\/health$/).body.messaging as {
        providers: ProviderHealth[];
      };
      const providers = health.providers.map((vendor) => vendor.provider);
      assert.ok(providers.includes("twilio") && providers.includes("aws_ses"));
      assert.deepEqual(await tableColumn(session.page, "vendors-table", 0), providers);
      assert.deepEqual(
        await tableColumn(session.page, "vendors-table", 3),
        health.providers.map((vendor) => vendor.breaker),
        "each breaker's state",
      );
      const spend = await chartData(session.page, "spend-chart");
      assert.deepEqual(spend, {
        labels: providers,
        datasets: [
          {
            label: "Spent this month (₹)",
            data: health.providers.map((vendor) => Number(vendor.spend_month_paise) / 100),
          },
          {
            label: "Monthly budget (₹)",
            data: health.providers.map((vendor) =>
              vendor.budget_paise === null ? null : vendor.budget_paise / 100
            ),
          },
        ],
      });
      for (const [provider, budget] of Object.entries(seed.budgets)) {
        const i = providers.indexOf(provider);
        assert.equal(spend?.datasets[1].data[i], budget / 100, `${provider}'s budget, in rupees`);
        assert.ok(Number(spend?.datasets[0].data[i]) > 0, `${provider} spent this month`);
      }
      const queue = await chartData(session.page, "queue-chart");
      assert.deepEqual(queue, {
        labels: providers,
        datasets: [
          { label: "Queued", data: health.providers.map((vendor) => vendor.queued) },
          { label: "Due now", data: health.providers.map((vendor) => vendor.due) },
        ],
      });
      assert.ok(
        Number(queue?.datasets[0].data[providers.indexOf("twilio")]) >= seed.queuedTwilio,
        "the seeded scheduled SMS wait in twilio's queue",
      );

      // Open alerts: the API's, the seeded overspend among them.
      const alerts = answerTo(session, /^\/alerts$/);
      assert.equal(alerts.search.get("status"), "open");
      const open = alerts.body.data as { rule: string; subject: string }[];
      assert.deepEqual(await tableColumn(session.page, "alerts-table", 0), open.map((a) => a.rule));
      assert.deepEqual(
        await tableColumn(session.page, "alerts-table", 1),
        open.map((a) => a.subject),
      );
      assert.ok(
        open.some((alert) => alert.rule === "provider_spend" && alert.subject === "aws_ses"),
        "aws_ses over 80 % of its budget is open",
      );

      await screenshot(session, "admin");
      assertClean(session, token);
    });
  } finally {
    await seed.cleanUp();
  }
});

dbTest("console page: a manager sees their subtree only, and no vendor detail", async () => {
  const seed = await seedConsole();
  const token = await tokenFor("delhi.manager@py360.test");
  try {
    await withBrowser(async (session) => {
      await openConsole(session, token);
      const nodes = await adminSql()<{ id: string; name: string; path: string }[]>`
        select id, name, path::text from public.hierarchy_nodes
         where path <@ 'NORTH'::extensions.ltree or path <@ 'SOUTH'::extensions.ltree`;
      const inDelhi = nodes.filter((node) => node.path.startsWith("NORTH.DELHI"));
      const outside = nodes.filter((node) => !node.path.startsWith("NORTH.DELHI"));
      const options = await session.page.evaluate(() =>
        [...(globalThis as unknown as Dom).document.querySelectorAll("#node option")].map(
          (option) => ({
            id: (option as unknown as { value: string }).value,
            name: option.textContent?.trim(),
          }),
        )
      );
      assert.deepEqual(
        options.map((option) => option.id).sort(),
        inDelhi.map((node) => node.id).sort(),
        "the node choice is Delhi NCR and every node under it",
      );
      for (const node of outside) {
        assert.ok(!options.some((option) => option.id === node.id), `${node.name} is not offered`);
      }
      const text = await session.page.evaluate(() =>
        (globalThis as unknown as Dom).document.body.textContent ?? ""
      );
      for (const name of ["North Zone", "South Zone", "Karnataka", "Bengaluru Koramangala"]) {
        assert.ok(!text.includes(name), `${name} appears nowhere on the page`);
      }

      // Their funnel: Delhi NCR's, as the API answers the manager (their own call).
      const delhi = inDelhi.find((node) => node.path === "NORTH.DELHI")!;
      const mine = async (nodeId: string) =>
        await expectJson(
          await api(`/hierarchy/${nodeId}/performance?from=${seed.today}&to=${seed.today}`, {
            token,
          }),
          200,
        ) as NodeFigures;
      const delhiFigures = await mine(delhi.id);
      let funnel = await chartData(session.page, "funnel-chart");
      assert.deepEqual(
        { labels: funnel?.labels, data: funnel?.datasets[0].data },
        funnelOf(delhiFigures),
        "the funnel is the API's for their node",
      );
      assert.deepEqual(
        funnelOf(answerTo(session, /^\/hierarchy\/[^/]+\/performance$/).body),
        funnelOf(delhiFigures),
      );
      for (const [stage, cases] of Object.entries(seed.northToday)) {
        const drawn = funnel!.datasets[0].data[funnel!.labels.indexOf(stage)];
        assert.ok(Number(drawn) >= cases, `Arjun's seeded ${stage} case(s) counted`);
      }
      assert.deepEqual(
        await tableColumn(session.page, "funnel-children", 0),
        ["Connaught Place", "Gurugram"],
      );

      // Choosing Connaught Place redraws the funnel with its figures.
      const cp = inDelhi.find((node) => node.path === "NORTH.DELHI.DEL_CP")!;
      const redrawn = session.page.waitForResponse((response) =>
        response.url().includes(`/api/hierarchy/${cp.id}/performance?`)
      );
      await session.page.selectOption("#node", cp.id);
      await redrawn;
      await session.page.waitForFunction(() => {
        const { document } = globalThis as unknown as Dom;
        return document.querySelector("#funnel-panel")?.dataset.state === "ready";
      });
      funnel = await chartData(session.page, "funnel-chart");
      assert.deepEqual(
        { labels: funnel?.labels, data: funnel?.datasets[0].data },
        funnelOf(await mine(cp.id)),
      );
      assert.match(funnel?.datasets[0].label ?? "", /^Connaught Place: /);

      // Their channels: only their subtree's messages; Kavya's SMS of the day before is not.
      const { days, byName } = await assertChannelCharts(session, seed.today);
      const kavyaDay = days.indexOf(seed.southOnlyDay);
      assert.equal(byName["SMS reminders"].rate[kavyaDay], null, "Bengaluru's SMS not counted");
      for (const day of seed.messageDays) {
        assert.ok(
          byName["SMS reminders"].rate[days.indexOf(day)] !== null,
          `Arjun's SMS of ${day}`,
        );
      }

      // Vendor health is for admins; alerts managers read.
      const states = await panelStates(session.page);
      for (const panel of ["vendors-panel", "spend-panel", "queue-panel"]) {
        assert.equal(states[panel], "refused: For admins only.");
      }
      assert.equal(await chartData(session.page, "spend-chart"), null, "no spend drawn");
      assert.match(states["alerts-panel"], /^ready/);
      assert.deepEqual(
        await tableColumn(session.page, "alerts-table", 0),
        (answerTo(session, /^\/alerts$/).body.data as { rule: string }[]).map((a) => a.rule),
      );

      await screenshot(session, "manager");
      assertClean(session, token);
    });
  } finally {
    await seed.cleanUp();
  }
});

dbTest("console page: an agent's or an analyst's token gets a refusal and no figures", async () => {
  for (
    const [email, role] of [["arjun.agent@py360.test", "an agent"], [
      "analyst@py360.test",
      "an analyst",
    ]]
  ) {
    const token = await tokenFor(email);
    await withBrowser(async (session) => {
      await openConsole(session, token);
      const notice = session.page.locator("#notice");
      assert.equal(await notice.isVisible(), true);
      assert.equal(
        await notice.textContent(),
        `The ops console is for admins and managers; you are signed in as ${role}.`,
      );
      assert.equal(await session.page.locator("#panels").isVisible(), false, "no panels");
      assert.deepEqual(session.answers.map((answer) => answer.path), ["/me"], "nothing else asked");
      assert.equal(await chartData(session.page, "funnel-chart"), null);
      if (role === "an agent") await screenshot(session, "agent");
      assertClean(session, token);
    });
  }
});

dbTest(
  "console page: a panel whose endpoint is missing or failing says so; the rest stand",
  async () => {
    const token = await tokenFor("admin@py360.test");
    await withBrowser(async (session) => {
      // As an API without GET /alerts would answer, and channel reports failing.
      await session.page.route("**/functions/v1/api/alerts?*", (route) =>
        route.fulfill({
          status: 404,
          contentType: "application/problem+json",
          body: JSON.stringify({
            type: "about:blank",
            title: "Not Found",
            status: 404,
            detail: "No route for GET /api/alerts.",
          }),
        }));
      await session.page.route(
        "**/functions/v1/api/channels/*/performance?*",
        (route) =>
          route.fulfill({
            status: 503,
            contentType: "application/problem+json",
            body: JSON.stringify({
              type: "about:blank",
              title: "Service Unavailable",
              status: 503,
              detail: "The database is not available.",
            }),
          }),
      );
      await openConsole(session, token);
      const states = await panelStates(session.page);
      assert.equal(
        states["alerts-panel"],
        "unavailable: Not available: this API does not serve alerts yet.",
      );
      for (const panel of ["delivery-panel", "latency-panel"]) {
        assert.equal(
          states[panel],
          "error: Could not load channel performance: The database is not available.",
        );
      }
      for (const panel of ["funnel-panel", "vendors-panel", "spend-panel", "queue-panel"]) {
        assert.match(states[panel], /^ready/, `${panel} stands: ${states[panel]}`);
      }
      assert.equal(await chartData(session.page, "delivery-chart"), null, "no line drawn");
      assert.equal(await session.page.locator("#alerts-table").isVisible(), false);
      assert.deepEqual(
        [...new Set(session.errors)].sort(),
        [
          "Failed to load resource: the server responded with a status of 404 (Not Found)",
          "Failed to load resource: the server responded with a status of 503 (Service Unavailable)",
        ],
        "the browser's own notes of the refused calls, nothing else",
      );
      session.errors.length = 0;
      assertClean(session, token);
    });
  },
);

dbTest(
  "console page: a pasted token signs in; a refused one says so; sign out forgets it",
  async () => {
    const token = await tokenFor("admin@py360.test");
    await withBrowser(async (session) => {
      const page = session.page;
      await page.goto(`${session.base}/console`, { waitUntil: "load" });
      await page.locator("#sign-in").waitFor({ state: "visible" });
      assert.equal(await page.locator("#panels").isVisible(), false);

      const forged = await signedToken({ sub: crypto.randomUUID(), role: "authenticated" }, {
        secret: "not-the-secret-not-the-secret-not-the-secret",
      });
      await page.fill("#token", forged);
      await page.click("#sign-in button[type=submit]");
      await page.locator("#notice").waitFor({ state: "visible" });
      assert.equal(
        await page.locator("#notice").textContent(),
        "Your token was refused (expired or invalid): sign in again.",
      );
      assert.equal(await page.locator("#sign-in").isVisible(), true, "asked again");
      assert.equal(
        await page.evaluate(() =>
          (globalThis as unknown as Dom).sessionStorage.getItem("py360.console.token")
        ),
        null,
        "the refused token is forgotten",
      );
      assert.deepEqual(
        session.errors,
        ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"],
        "the browser's own note of the 401, nothing else",
      );
      session.errors.length = 0;

      await page.fill("#token", token);
      await page.click("#sign-in button[type=submit]");
      await page.waitForFunction(() =>
        (globalThis as unknown as Dom).document.body.dataset.loaded === "true"
      );
      assert.equal(await page.locator("#who").textContent(), "Asha Admin · admin");
      assert.equal(await page.locator("#sign-in").isVisible(), false);
      assert.equal(await page.inputValue("#token"), "", "the field is emptied");

      await page.click("#sign-out");
      assert.equal(await page.locator("#panels").isVisible(), false);
      assert.equal(await page.locator("#sign-in").isVisible(), true);
      assert.equal(
        await page.evaluate(() =>
          (globalThis as unknown as Dom).sessionStorage.getItem("py360.console.token")
        ),
        null,
      );
      assertClean(session, token);
      assertClean(session, forged);
    });
  },
);

// ------------------------------------------------------------------ deployed

Deno.test({
  name: "console deploy: the page's files are uploaded with the function, where it reads them",
  sanitizeResources: false,
  fn: async () => {
    let upload: { metadata: Record<string, unknown>; files: Map<string, number> } | undefined;
    const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
      const url = new URL(req.url);
      if (req.method === "POST" && url.pathname.endsWith("/functions/deploy")) {
        const form = await req.formData();
        const files = new Map<string, number>();
        for (const value of form.getAll("file")) {
          if (value instanceof File) files.set(value.name, value.size);
        }
        upload = { metadata: JSON.parse(String(form.get("metadata"))), files };
        return Response.json({
          id: "1",
          slug: "console",
          name: "console",
          version: 1,
          status: "ACTIVE",
        }, { status: 201 });
      }
      if (req.method === "GET" && url.pathname.endsWith("/functions")) return Response.json([]);
      return Response.json({ message: "not part of this stand-in" }, { status: 404 });
    });
    const home = await Deno.makeTempDir({ prefix: "py360-deploy-" });
    try {
      const profile = `${home}/profile.yaml`;
      await Deno.writeTextFile(
        profile,
        [
          "name: local-stand-in",
          `api_url: http://127.0.0.1:${api.addr.port}`,
          `dashboard_url: http://127.0.0.1:${api.addr.port}/dashboard`,
          "project_host: localhost",
          "",
        ].join("\n"),
      );
      const deploy = await tryRun(`${projectRoot}/node_modules/.bin/supabase`, [
        "functions",
        "deploy",
        "console",
        "--project-ref",
        "abcdefghijklmnopqrst",
        "--use-api",
      ], {
        env: {
          PATH: Deno.env.get("PATH") ?? "",
          HOME: home,
          SUPABASE_PROFILE: profile,
          SUPABASE_ACCESS_TOKEN: `sbp_${"0".repeat(40)}`,
          DO_NOT_TRACK: "1",
          SUPABASE_TELEMETRY_DISABLED: "1",
        },
      });
      assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
      assert.ok(upload, "the CLI uploaded the function");
      assert.equal(upload.metadata.entrypoint_path, "functions/console/index.ts");
      const files = assetFiles.map((asset) => asset.file);
      assert.deepEqual(
        [...(upload.metadata.static_patterns as string[])].sort(),
        [...files].sort(),
      );
      for (const file of files) {
        const local = await Deno.stat(`${projectRoot}/${file}`);
        assert.equal(upload.files.get(file), local.size, `${file} whole, at its path`);
        // assets.ts reads `../../<file>` relative to itself: the uploaded tree has it.
        const root = "file:///deployed/";
        assert.equal(
          new URL(`../../${file}`, `${root}functions/console/assets.ts`).href,
          `${root}${file}`,
        );
      }
      assert.ok(upload.files.has("functions/console/assets.ts"), "with the module serving them");
    } finally {
      await api.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});
