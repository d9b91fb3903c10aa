// /api/reports: the scheduled reports as admins read them — the list (newest period first, by
// kind, page by page), one report's figures, its CSV cell by cell (quoting and the formula guard
// on a value from the data), the HTML emailed once to each active admin — and what everyone else
// gets: 403 for managers, agents and analysts, 401 without a token, 404 and 422.
//
// The fixture is one IST day of the 1990s that no other test uses (the reports are unique per
// kind and period): two customers' SMS, an alert whose subject is built to break HTML and CSV
// (raised and resolved that day, so the alert evaluator leaves it alone), the facts rebuilt for
// it, and the reports generated as pg_cron would with a moved clock. A last test removes
// everything it made.
import assert from "node:assert/strict";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";

const admin = "admin@py360.test";
/** An alert subject with a formula, quotes, a comma and a line break: from "outside". */
const subject = '=cmd|"/C calc"!A0,\nnext <b>';

interface Fixture {
  day: string;
  nextDay: string;
  daily: string;
  nextDaily: string;
  weekly: string;
  monthly: string;
  customerId: string;
  alertId: string;
  secondAdmin: { id: string; email: string };
  /** Who was an active admin when the daily report was generated, and whom it was queued for. */
  admins: string[];
  mailed: { staff_id: string; subject: string; body_html: string; status: string }[];
  html: string;
}

let fixture: Promise<Fixture> | undefined;

/** YYYY-MM-DD of a day `days` after `day`. */
const plusDays = (day: string, days: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

/** The instant of an IST wall-clock time on `day` (HH:MM:SS). */
const ist = (day: string, time: string) => new Date(`${day}T${time}+05:30`);

async function build(): Promise<Fixture> {
  const sql = adminSql();
  const day = plusDays("1990-01-01", Math.floor(Math.random() * 3650));
  const nextDay = plusDays(day, 1);
  const tag = crypto.randomUUID().slice(0, 8);
  const [customer] = await sql`
    insert into public.customers (full_name, phone)
    values (${`Reports Customer ${tag}`}, '+919811100000') returning id`;
  const message = (key: string, fields: Record<string, unknown>) => ({
    customer_id: customer.id,
    channel: "sms",
    purpose: "service",
    body: "Your renewal is due",
    recipient: "+919811100000",
    provider: "twilio",
    idempotency_key: `reports-test:${tag}:${key}`,
    created_at: ist(day, "10:00:00"),
    queued_at: ist(day, "10:00:00"),
    estimated_cost_paise: 25,
    // Every row the same columns: postgres.js takes a multi-row insert's from the first.
    sent_at: null,
    delivered_at: null,
    failed_at: null,
    last_error_code: null,
    ...fields,
  });
  await sql`insert into public.messages ${
    sql([
      message("delivered", {
        status: "delivered",
        sent_at: ist(day, "10:00:02"),
        delivered_at: ist(day, "10:00:10"),
      }),
      message("failed", {
        status: "failed",
        failed_at: ist(day, "10:00:01"),
        last_error_code: "21211",
        estimated_cost_paise: null,
      }),
    ])
  }`;
  const [alert] = await sql`
    insert into public.alerts (rule, subject, status, raised_at, last_seen_at, resolved_at,
                               resolution, summary)
    values ('provider_quota', ${subject}, 'resolved', ${ist(day, "11:00:00")},
            ${ist(day, "11:00:00")}, ${ist(day, "11:30:00")}, 'cleared', 'quota')
    returning id`;
  await sql`select private.rebuild_analytics(${day}::date, ${nextDay}::date)`;

  const email = `reports.admin.${tag}@tests.py360.test`;
  const [second] = await sql`
    insert into auth.users (id, aud, role, email, raw_app_meta_data)
    values (gen_random_uuid(), 'authenticated', 'authenticated', ${email},
            ${sql.json({ provider: "email", role: "admin" })})
    returning id`;

  // As pg_cron would run it, the admins and the emails read in the same snapshot.
  const generated = await sql.begin("isolation level repeatable read", async (tx) => {
    const [daily] = await tx`
      select id, html from private.generate_report('daily', ${ist(nextDay, "03:00:00")})`;
    const admins = await tx`select id from public.profiles where role = 'admin' and active`;
    const mailed = await tx`
      select staff_id, subject, body_html, status::text from public.messages
       where idempotency_key like ${`staff:%:report:daily:${day}`}`;
    return { daily, admins, mailed };
  });
  const later = ist(plusDays(day, 2), "03:00:00");
  const [nextDaily] = await sql`select id from private.generate_report('daily', ${later})`;
  const [weekly] = await sql`select id from private.generate_report('weekly', ${later})`;
  const [monthly] = await sql`select id from private.generate_report('monthly', ${later})`;
  return {
    day,
    nextDay,
    daily: generated.daily.id,
    nextDaily: nextDaily.id,
    weekly: weekly.id,
    monthly: monthly.id,
    customerId: customer.id,
    alertId: alert.id,
    secondAdmin: { id: second.id, email },
    admins: generated.admins.map((row) => row.id),
    mailed: generated.mailed as unknown as Fixture["mailed"],
    html: generated.daily.html,
  };
}

/** The reports of one day of the 1990s, generated once for the whole file. */
const reports = () => (fixture ??= build());

/** RFC 4180: the rows of a CSV text, each a list of fields (quoted fields may hold CR, LF, `,`). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else {
      assert.ok(c !== "\n" && c !== "\r" && c !== '"', `a bare ${JSON.stringify(c)} at ${i}`);
      field += c;
    }
  }
  assert.equal(quoted, false, "no quote left open");
  assert.deepEqual(row, [], "the last line ends with CRLF");
  assert.equal(field, "");
  return rows;
}

dbTest("reports: an admin lists them newest first, by kind, page by page", async () => {
  const f = await reports();
  const token = await tokenFor(admin);
  type Summary = { id: string; kind: string; period_start: string; period_end: string };
  const walk = async (query: string) => {
    const seen: Summary[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const path = `/reports?${query}${cursor ? `&cursor=${cursor}` : ""}`;
      const body = await expectJson(await api(path, { token }), 200);
      assert.ok(body.data.length <= 2, "a page holds at most limit reports");
      seen.push(...body.data);
      cursor = body.next_cursor;
      if (!cursor) return seen;
      assert.equal(body.data.length, 2, "only the last page is short");
    }
    throw new Error("the pages never ended");
  };

  const dailies = await walk("kind=daily&limit=2");
  assert.ok(dailies.every((r) => r.kind === "daily"), "only daily reports");
  assert.equal(new Set(dailies.map((r) => r.id)).size, dailies.length, "no report twice");
  const starts = dailies.map((r) => r.period_start);
  assert.deepEqual(starts, [...starts].sort().reverse(), "newest period first");
  const mine = dailies.filter((r) => r.id === f.daily || r.id === f.nextDaily);
  assert.deepEqual(mine.map((r) => r.id), [f.nextDaily, f.daily], "the later day first");
  const first = dailies.find((r) => r.id === f.daily) as Summary & { generated_at: string };
  assert.deepEqual(first, {
    id: f.daily,
    kind: "daily",
    period_start: f.day,
    period_end: f.day,
    generated_at: first.generated_at,
    as_of: ist(f.nextDay, "03:00:00").toISOString(),
  });
  assert.match(first.generated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const all = await walk("limit=2");
  const byId = new Map(all.map((r) => [r.id, r]));
  // generate_report at 03:00 IST two days after the fixture's day: the last Monday to Sunday
  // and the last month before that day.
  const today = plusDays(f.day, 2);
  const weekEnd = plusDays(today, -(((new Date(`${today}T00:00:00Z`).getUTCDay() + 6) % 7) + 1));
  const monthEnd = plusDays(today, -Number(today.slice(8)));
  assert.deepEqual(
    [f.daily, f.nextDaily, f.weekly, f.monthly].map((id) => {
      const r = byId.get(id);
      return r && [r.kind, r.period_start, r.period_end];
    }),
    [
      ["daily", f.day, f.day],
      ["daily", f.nextDay, f.nextDay],
      ["weekly", plusDays(weekEnd, -6), weekEnd],
      ["monthly", `${monthEnd.slice(0, 8)}01`, monthEnd],
    ],
    "without a kind, every kind, each for its period",
  );
  const order = all.map((r) => `${r.period_start} ${r.kind}`);
  for (let i = 1; i < all.length; i++) {
    const [a, b] = [all[i - 1], all[i]];
    assert.ok(
      a.period_start > b.period_start || (a.period_start === b.period_start && a.kind < b.kind),
      `${order[i - 1]} before ${order[i]}`,
    );
  }
});

dbTest("reports: one report with its figures", async () => {
  const f = await reports();
  const body = await expectJson(
    await api(`/reports/${f.daily}`, { token: await tokenFor(admin) }),
    200,
  );
  const [p95] = await adminSql()`
    select trim_scale(round((analytics.latency_quantiles(array[analytics.latency_bucket(10)],
                               array[1::bigint], array[0.95]))[1]::numeric, 2))::float8 as seconds`;
  assert.equal(body.id, f.daily);
  assert.equal(body.kind, "daily");
  assert.deepEqual(body.figures.messages, {
    messages: 2,
    sent: 1,
    delivered: 1,
    read: 0,
    failed: 1,
    blocked: 0,
    cancelled: 0,
    delivery_rate: 1,
    error_rate: 0.5,
    p95_delivered_seconds: p95.seconds,
    cost_paise: 25,
    renewals: 0,
    cost_per_renewal_paise: null,
  });
  assert.deepEqual(body.figures.failures, [
    { cause: "customer", messages: 1, share: 1 },
    { cause: "provider", messages: 0, share: 0 },
    { cause: "us", messages: 0, share: 0 },
    { cause: "regulation", messages: 0, share: 0 },
  ]);
  assert.deepEqual(body.figures.alert_list, [{
    subject,
    rule: "provider_quota",
    status: "resolved",
    raised_at: ist(f.day, "11:00:00").toISOString().replace(".000Z", "Z"),
    resolved_at: ist(f.day, "11:30:00").toISOString().replace(".000Z", "Z"),
  }]);
  assert.deepEqual(body.figures.alerts, { raised: 1, resolved: 1, open_at_end: 0 });
  assert.equal(body.figures.period_start, f.day);
});

dbTest("reports: the CSV, cell by cell", async () => {
  const f = await reports();
  const response = await api(`/reports/${f.daily}/csv`, { token: await tokenFor(admin) });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/csv; charset=utf-8; header=present");
  assert.equal(
    response.headers.get("content-disposition"),
    `attachment; filename="report-daily-${f.day}.csv"`,
  );
  const text = await response.text();
  const [stored] = await adminSql()`select csv from public.reports where id = ${f.daily}`;
  assert.equal(text, stored.csv, "the CSV the database made, byte for byte");
  assert.ok(
    text.includes(`"'=cmd|""/C calc""!A0,\nnext <b> / provider_quota",status,resolved\r\n`),
    "the subject quoted, its quotes doubled, its line break kept, an apostrophe before the =",
  );

  const rows = parseCsv(text);
  assert.deepEqual(rows[0], ["section", "item", "measure", "value"]);
  assert.ok(rows.every((row) => row.length === 4), "four fields on every line");
  const cells = (section: string) => rows.filter((row) => row[0] === section);
  assert.deepEqual(cells("report"), [
    ["report", "", "kind", "daily"],
    ["report", "", "period_start", f.day],
    ["report", "", "period_end", f.day],
    ["report", "", "as_of", ist(f.nextDay, "03:00:00").toISOString().replace(".000Z", "Z")],
    ["report", "", "facts_as_of", rows.find((r) => r[2] === "facts_as_of")![3]],
  ]);
  const [p95] = cells("messages").filter((row) => row[2] === "p95_delivered_seconds");
  assert.deepEqual(cells("messages"), [
    ["messages", "", "messages", "2"],
    ["messages", "", "sent", "1"],
    ["messages", "", "delivered", "1"],
    ["messages", "", "read", "0"],
    ["messages", "", "failed", "1"],
    ["messages", "", "blocked", "0"],
    ["messages", "", "cancelled", "0"],
    ["messages", "", "delivery_rate", "1"],
    ["messages", "", "error_rate", "0.5"],
    ["messages", "", "p95_delivered_seconds", p95[3]],
    ["messages", "", "cost_paise", "25"],
    ["messages", "", "renewals", "0"],
    ["messages", "", "cost_per_renewal_paise", ""],
  ]);
  assert.match(p95[3], /^\d+(\.\d+)?$/, "p95 is a plain number");
  assert.deepEqual(cells("alert_list"), [
    ["alert_list", `'${subject} / provider_quota`, "status", "resolved"],
    [
      "alert_list",
      `'${subject} / provider_quota`,
      "raised_at",
      ist(f.day, "11:00:00").toISOString().replace(".000Z", "Z"),
    ],
    [
      "alert_list",
      `'${subject} / provider_quota`,
      "resolved_at",
      ist(f.day, "11:30:00").toISOString().replace(".000Z", "Z"),
    ],
  ]);
  assert.deepEqual(
    cells("providers").filter((row) => row[1] === "twilio").map((row) => [row[2], row[3]]),
    [
      ["messages", "2"],
      ["sent", "1"],
      ["delivered", "1"],
      ["failed", "1"],
      ["delivery_rate", "1"],
      ["error_rate", "0.5"],
      [
        "p95_sent_seconds",
        cells("providers").find((r) => r[1] === "twilio" && r[2] === "p95_sent_seconds")![3],
      ],
      ["p95_delivered_seconds", p95[3]],
      [
        "breaker_open_seconds",
        cells("providers").find((r) => r[1] === "twilio" && r[2] === "breaker_open_seconds")![3],
      ],
      ["cost_paise", "25"],
    ],
  );
  // No field a spreadsheet would run: text never starts with =, +, @, a tab or CR, and a leading
  // minus only on a number.
  for (const row of rows) {
    for (const field of row) {
      assert.doesNotMatch(field, /^[=+@\t\r]/, `a formula in ${JSON.stringify(row)}`);
      if (field.startsWith("-")) assert.match(field, /^-\d+(\.\d+)?$/, JSON.stringify(row));
    }
  }
});

dbTest("reports: the HTML is emailed to each active admin, once", async () => {
  const f = await reports();
  assert.ok(f.admins.length >= 2, "the demo's admin and the test's");
  assert.ok(f.admins.includes(f.secondAdmin.id));
  assert.deepEqual(f.mailed.map((m) => m.staff_id).sort(), [...f.admins].sort(), "one email each");
  const [date] = await adminSql()`select to_char(${f.day}::date, 'FMDay DD Mon YYYY') as text`;
  for (const mail of f.mailed) {
    assert.equal(mail.subject, `Py360: Daily operations report, ${date.text}`);
    assert.equal(mail.body_html, f.html, "the report's HTML");
    assert.equal(mail.status, "queued");
  }
  assert.ok(
    f.html.includes("=cmd|&quot;/C calc&quot;!A0,\nnext &lt;b&gt;</td>"),
    "the subject escaped in the HTML",
  );
  assert.ok(!f.html.includes("<b>") && !f.html.includes('"/C calc"'), "never raw");
  assert.ok(f.html.includes(`GET /api/reports/${f.daily}/csv`), "it says where the CSV is");

  // pg_cron's retry, or an operator's re-run: the same report, no second email.
  const [again] = await adminSql()`
    select id from private.generate_report('daily', ${ist(f.nextDay, "09:00:00")})`;
  assert.equal(again.id, f.daily);
  const [count] = await adminSql()`
    select count(*)::int as n from public.messages
     where idempotency_key like ${`staff:%:report:daily:${f.day}`}`;
  assert.equal(count.n, f.admins.length);
});

dbTest(
  "reports: managers, agents and analysts are refused, and nobody without a token",
  async () => {
    const f = await reports();
    const paths = [
      "/reports",
      "/reports?kind=daily",
      `/reports/${f.daily}`,
      `/reports/${f.daily}/csv`,
    ];
    for (
      const email of [
        "cp.manager@py360.test",
        "north.manager@py360.test",
        "farah.agent@py360.test",
        "analyst@py360.test",
      ]
    ) {
      const token = await tokenFor(email);
      for (const path of paths) {
        const problem = await expectProblem(await api(path, { token }), 403);
        assert.equal(problem.detail, "Only admins read the reports.", `${email} ${path}`);
      }
    }
    for (const path of paths) await expectProblem(await api(path), 401);
  },
);

dbTest(
  "reports: 404 for no such report, 422 for a malformed id, kind, limit or cursor",
  async () => {
    await reports();
    const token = await tokenFor(admin);
    const unknown = crypto.randomUUID();
    for (const path of [`/reports/${unknown}`, `/reports/${unknown}/csv`]) {
      const problem = await expectProblem(await api(path, { token }), 404);
      assert.equal(problem.detail, "No such report, or you may not see it.");
    }
    for (
      const path of [
        "/reports/not-a-uuid",
        "/reports/123/csv",
        "/reports?kind=yearly",
        "/reports?limit=0",
        "/reports?limit=101",
        "/reports?limit=ten",
      ]
    ) {
      await expectProblem(await api(path, { token }), 422);
    }
    const forged = btoa(JSON.stringify(["2025-13-40", "daily"]));
    for (const cursor of ["garbage", forged, btoa(JSON.stringify(["2025-06-01", "yearly"]))]) {
      const problem = await expectProblem(await api(`/reports?cursor=${cursor}`, { token }), 422);
      assert.equal(problem.errors[0].path, "cursor");
    }
  },
);

dbTest("reports: the fixture is removed", async () => {
  if (!fixture) return;
  const f = await fixture;
  const sql = adminSql();
  await sql`delete from public.reports where id in ${
    sql([f.daily, f.nextDaily, f.weekly, f.monthly])
  }`;
  // The emails of the reports of the 1990s: only this file makes such reports.
  await sql`delete from public.messages where idempotency_key like 'staff:%:report:%:199_-__-__'`;
  await sql`delete from public.messages where customer_id = ${f.customerId}`;
  await sql`delete from public.alerts where id = ${f.alertId}`;
  await sql`delete from public.customers where id = ${f.customerId}`;
  await sql`delete from auth.users where id = ${f.secondAdmin.id}`;
  await sql`select private.rebuild_analytics(${f.day}::date, ${f.nextDay}::date)`;
  const [left] = await sql`
    select (select count(*) from public.reports where id in ${sql([f.daily, f.monthly])})::int
             as reports,
           (select count(*) from analytics.message_facts
             where day between ${f.day}::date and ${f.nextDay}::date)::int as facts`;
  assert.deepEqual(left, { reports: 0, facts: 0 });
});
