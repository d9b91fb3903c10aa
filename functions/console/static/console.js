// The ops console's script: a plain browser script (no build step), run after Chart.js's bundle.
// It signs in with an access token, reads everything from the `api` function with
// `Authorization: Bearer <token>`, and draws each panel on its own, so one endpoint failing (or
// missing from this API) leaves the others standing. The token is taken from the URL fragment
// (#token=..., never sent to a server) or the sign-in field, kept in this tab's sessionStorage
// only, removed from the address bar at once, and never logged or put in a URL.
"use strict";

(() => {
  /** The api function: this script is /functions/v1/console/assets/<file>.js. */
  const apiBase = new URL("../../api/", document.currentScript.src);
  const tokenKey = "py360.console.token";
  /** The business time zone: periods are Indian business days. */
  const timeZone = "Asia/Kolkata";
  const palette = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b45309", "#0e7490", "#be123c"];
  const rupees = new Intl.NumberFormat("en-IN", {
    style: "currency",
    currency: "INR",
    maximumFractionDigits: 2,
  });
  const whole = new Intl.NumberFormat("en-IN");

  const $ = (selector, root = document) => root.querySelector(selector);

  /** An API answer that was not 2xx: its status and problem+json (when it sent one). */
  class ApiError extends Error {
    constructor(status, problem) {
      super(problem?.detail || problem?.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
    /** A 404 from the router itself: this API has no such endpoint (yet). */
    get missingRoute() {
      return this.status === 404 && /^No route for /.test(this.problem?.detail ?? "");
    }
  }

  /** The token: from the fragment (then dropped from the address bar), else the tab's storage. */
  function takeToken() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const given = fragment.get("token");
    if (given) {
      sessionStorage.setItem(tokenKey, given.trim());
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(tokenKey);
  }

  /** GET `path` of the api function with `query`; the JSON body, or an ApiError. */
  async function get(path, query = {}) {
    const url = new URL(path, apiBase);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${sessionStorage.getItem(tokenKey)}` },
      credentials: "omit",
      cache: "no-store",
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 401) {
        signOut("Your token was refused (expired or invalid): sign in again.");
      }
      throw new ApiError(response.status, body);
    }
    return body;
  }

  /** Today and `days` − 1 days before it, as IST business days (YYYY-MM-DD). */
  function businessDays(days) {
    const format = new Intl.DateTimeFormat("en-CA", { timeZone });
    const today = format.format(new Date());
    const [y, m, d] = today.split("-").map(Number);
    const list = [];
    for (let back = days - 1; back >= 0; back--) {
      list.push(new Date(Date.UTC(y, m - 1, d - back)).toISOString().slice(0, 10));
    }
    return list;
  }

  /** Paise (a number or an exact decimal string) as rupees, for display. */
  const asRupees = (paise) => rupees.format(Number(paise) / 100);

  // ---------------------------------------------------------------- panels

  /** Puts `panel` in a state (loading, ready, unavailable, refused, error) with a status text. */
  function setState(panel, state, text = "") {
    panel.dataset.state = state;
    $(".status", panel).textContent = text;
  }

  /** The panel's state for a failed call: missing endpoint, refusal, or error. */
  function showFailure(panel, error, what) {
    if (error instanceof ApiError && error.missingRoute) {
      setState(panel, "unavailable", `Not available: this API does not serve ${what} yet.`);
    } else if (error instanceof ApiError && error.status === 403) {
      setState(panel, "refused", `Not for your role: ${error.message}`);
    } else {
      setState(panel, "error", `Could not load ${what}: ${error.message}`);
    }
  }

  const charts = new Map();

  /** Draws (or redraws, keeping the same Chart) the chart of `canvas` with `config`. */
  function draw(canvas, config) {
    const chart = charts.get(canvas.id);
    if (chart) {
      chart.data = config.data;
      chart.update();
      return chart;
    }
    const created = new Chart(canvas, {
      ...config,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        ...config.options,
      },
    });
    charts.set(canvas.id, created);
    return created;
  }

  /** Fills `table` with a head row and body rows of cells ({text, className?}). */
  function fillTable(table, head, rows) {
    const headRow = document.createElement("tr");
    for (const cell of head) headRow.append(cellOf("th", cell));
    $("thead", table).replaceChildren(headRow);
    $("tbody", table).replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        for (const cell of row) tr.append(cellOf("td", cell));
        return tr;
      }),
    );
    table.hidden = false;
  }

  function cellOf(tag, cell) {
    const element = document.createElement(tag);
    const { text, className } = typeof cell === "object" && cell !== null ? cell : { text: cell };
    element.textContent = text ?? "—";
    if (className) element.className = className;
    return element;
  }

  /** A right-aligned cell (a heading of numbers). */
  const numeric = (text) => ({ text, className: "number" });
  const number = (value) => ({
    text: value == null ? "—" : whole.format(value),
    className: "number",
  });

  // ---------------------------------------------------------------- funnel

  /** The visible tree, flattened depth first, with each node's depth. */
  function flatten(nodes, depth = 0, into = []) {
    for (const node of nodes) {
      into.push({ node, depth });
      flatten(node.children ?? [], depth + 1, into);
    }
    return into;
  }

  /** Cases due in the period by their stage now, as [stage, cases] pairs in pipeline order. */
  const casesByStage = (performance) =>
    (performance.by_stage ?? []).map((row) => [row.stage, Number(row.cases)]);

  /** The funnel's period: [from, to, words] for the value of the period select. */
  function funnelPeriod(value) {
    const days = businessDays(30);
    const today = days[days.length - 1];
    if (value === "last30") return [days[0], today, `from ${days[0]} to ${today}`];
    if (value === "next30") {
      const [y, m, d] = today.split("-").map(Number);
      const last = new Date(Date.UTC(y, m - 1, d + 29)).toISOString().slice(0, 10);
      return [today, last, `from ${today} to ${last}`];
    }
    return [today, today, `today (${today})`];
  }

  let funnelRequest = 0;

  async function loadFunnel(panel) {
    const request = ++funnelRequest;
    setState(panel, "loading", "Loading…");
    const [from, to, words] = funnelPeriod($("#period").value);
    try {
      const performance = await get(
        `hierarchy/${encodeURIComponent($("#node").value)}/performance`,
        { from, to },
      );
      if (request !== funnelRequest) return; // a later choice of node or period is on its way
      const pairs = casesByStage(performance);
      draw($("#funnel-chart"), {
        type: "bar",
        data: {
          labels: pairs.map(([stage]) => stage),
          datasets: [{
            label: `${performance.node.name}: cases due ${words}`,
            data: pairs.map(([, cases]) => cases),
            backgroundColor: palette[0],
          }],
        },
        options: {
          plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
      $(".facts-as-of", panel).textContent = performance.facts_as_of
        ? `Facts as of ${when(performance.facts_as_of)}`
        : "Facts not computed yet";
      const children = performance.children ?? [];
      if (children.length > 0) {
        fillTable(
          $("#funnel-children"),
          [
            "Node",
            ...[
              "Cases due",
              "Renewed",
              "Renewal rate",
              "Premium due",
              "Collected",
              "SLA breaches",
            ].map(numeric),
          ],
          children.map((child) => [
            child.node.name,
            number(child.cases.due),
            number(child.cases.renewed),
            numeric(percent(child.renewal_rate)),
            numeric(paiseText(child.premium.due_paise)),
            numeric(paiseText(child.premium.collected_paise)),
            number(child.sla.breaches),
          ]),
        );
      } else {
        $("#funnel-children").hidden = true;
      }
      const { due } = performance.cases;
      setState(
        panel,
        "ready",
        due === 0
          ? `No cases due ${words} under ${performance.node.name}.`
          : `${performance.node.name}: ${whole.format(due)} cases due ${words} · renewal rate ${
            percent(performance.renewal_rate)
          } · premium collected ${paiseText(performance.premium.collected_paise)} of ${
            paiseText(performance.premium.due_paise)
          } due on those days`,
      );
    } catch (error) {
      if (request === funnelRequest) showFailure(panel, error, "hierarchy performance");
    }
  }

  const paiseText = (paise) => (paise == null ? "—" : asRupees(paise));
  /** A rate (0..1) as a percentage. */
  const percent = (rate) => (rate == null ? "—" : `${(Number(rate) * 100).toFixed(1)} %`);

  /**
   * The nodes whose figures `me` may read: every node for an admin; for a manager their own node
   * and everything under it (the tree also shows their node's ancestors, which they may not read).
   */
  function readableNodes(tree, me) {
    if (me.role === "admin") return flatten(tree);
    const own = flatten(tree).find(({ node }) => node.id === me.node?.id);
    return own ? flatten([own.node]) : [];
  }

  async function setUpFunnel(me) {
    const panel = $("#funnel-panel");
    setState(panel, "loading", "Loading…");
    let tree;
    try {
      tree = (await get("hierarchy")).data;
    } catch (error) {
      showFailure(panel, error, "the hierarchy");
      return;
    }
    const select = $("#node");
    select.replaceChildren(
      ...readableNodes(tree, me).map(({ node, depth }) => {
        const option = document.createElement("option");
        option.value = node.id;
        option.textContent = `${"\u2003".repeat(depth)}${node.name} (${node.level})`;
        return option;
      }),
    );
    if (select.options.length === 0) {
      setState(panel, "ready", "No hierarchy node is visible to you.");
      return;
    }
    select.addEventListener("change", () => loadFunnel(panel));
    $("#period").addEventListener("change", () => loadFunnel(panel));
    await loadFunnel(panel);
  }

  // ---------------------------------------------------------------- channels

  const istDay = new Intl.DateTimeFormat("en-CA", { timeZone });

  /** A channel report's daily series by IST day (YYYY-MM-DD; `start` is the day's first instant). */
  const pointsByDay = (series) =>
    new Map(series.map((point) => [istDay.format(new Date(point.start)), point]));

  /** Delivered ÷ sent of a day, in percent to one decimal; null when nothing was sent. */
  const deliveryRate = (point) =>
    point && point.sent > 0 ? Math.round((point.delivered / point.sent) * 1000) / 10 : null;

  /** The day's p95 queue→delivered latency in seconds; null when none was delivered. */
  const deliveredP95 = (point) => point?.p95_delivered_seconds ?? null;

  async function loadChannels() {
    const panels = [$("#delivery-panel"), $("#latency-panel")];
    for (const panel of panels) setState(panel, "loading", "Loading…");
    const days = businessDays(30);
    let channels;
    try {
      // The message channels (the reports cover SMS, email and WhatsApp).
      channels = (await get("channels")).data
        .filter((channel) => ["sms", "email", "whatsapp"].includes(channel.type));
    } catch (error) {
      for (const panel of panels) showFailure(panel, error, "channels");
      return;
    }
    let reports;
    try {
      reports = await Promise.all(
        channels.map((channel) =>
          get(`channels/${encodeURIComponent(channel.id)}/performance`, {
            from: days[0],
            to: days[days.length - 1],
            granularity: "day",
          }).then((report) => ({ channel, report }))
        ),
      );
    } catch (error) {
      for (const panel of panels) showFailure(panel, error, "channel performance");
      return;
    }
    if (reports.length > 0 && reports.every(({ report }) => !Array.isArray(report.series))) {
      for (const panel of panels) {
        setState(
          panel,
          "unavailable",
          "Not available: this API's channel reports have no daily series yet.",
        );
      }
      return;
    }
    const datasets = (measure) =>
      reports.map(({ channel, report }, i) => {
        const byDay = pointsByDay(report.series ?? []);
        return {
          label: channel.name,
          data: days.map((day) => measure(byDay.get(day))),
          borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length],
          spanGaps: true,
          tension: 0.2,
        };
      });
    draw($("#delivery-chart"), {
      type: "line",
      data: { labels: days, datasets: datasets(deliveryRate) },
      options: {
        scales: { y: { min: 0, max: 100, title: { display: true, text: "% delivered of sent" } } },
      },
    });
    draw($("#latency-chart"), {
      type: "line",
      data: { labels: days, datasets: datasets(deliveredP95) },
      options: {
        scales: { y: { beginAtZero: true, title: { display: true, text: "seconds (p95)" } } },
      },
    });
    const empty = reports.length === 0 ? "No channels are configured." : "";
    for (const panel of panels) setState(panel, "ready", empty);
  }

  // ---------------------------------------------------------------- vendors

  /** The health answer's vendor section: the member holding the `providers` list. */
  const vendorSection = (health) =>
    Object.values(health).find((value) => Array.isArray(value?.providers)) ?? null;

  async function loadVendors() {
    const panels = [$("#vendors-panel"), $("#spend-panel"), $("#queue-panel")];
    for (const panel of panels) setState(panel, "loading", "Loading…");
    let section;
    try {
      const health = await get("health");
      if (!health.database) {
        for (const panel of panels) setState(panel, "refused", "For admins only.");
        return;
      }
      section = vendorSection(health);
    } catch (error) {
      for (const panel of panels) showFailure(panel, error, "health");
      return;
    }
    if (!section) {
      for (const panel of panels) {
        setState(
          panel,
          "unavailable",
          "Not available: this API's health has no vendor section yet.",
        );
      }
      return;
    }
    const vendors = section.providers;
    const providers = vendors.map((vendor) => vendor.provider);
    fillTable(
      $("#vendors-table"),
      [
        "Vendor",
        "In use",
        "Credentials",
        "Breaker",
        ...[`Error rate (${section.window_minutes ?? 15} min)`, "p95 send", "Quota used today"]
          .map(numeric),
      ],
      vendors.map((vendor) => [
        vendor.provider,
        vendor.enabled ? "yes" : "no",
        vendor.configured ? "set" : "missing",
        { text: vendor.breaker ?? "—", className: `state-${vendor.breaker}` },
        {
          text: vendor.error_rate_percent == null ? "—" : `${vendor.error_rate_percent} %`,
          className: "number",
        },
        {
          text: vendor.p95_send_ms == null ? "—" : `${Math.round(vendor.p95_send_ms)} ms`,
          className: "number",
        },
        {
          text: vendor.daily_quota == null
            ? `${whole.format(vendor.used_today ?? 0)} (no quota)`
            : `${whole.format(vendor.used_today ?? 0)} of ${whole.format(vendor.daily_quota)}`,
          className: "number",
        },
      ]),
    );
    setState($("#vendors-panel"), "ready", vendors.length === 0 ? "No messaging vendors." : "");

    draw($("#spend-chart"), {
      type: "bar",
      data: {
        labels: providers,
        datasets: [
          {
            label: "Spent this month (₹)",
            data: vendors.map((vendor) => toRupees(vendor.spend_month_paise)),
            backgroundColor: palette[0],
          },
          {
            label: "Monthly budget (₹)",
            data: vendors.map((vendor) => toRupees(vendor.budget_paise)),
            backgroundColor: "#c7d2e3",
          },
        ],
      },
      options: { scales: { y: { beginAtZero: true } } },
    });
    const budgeted = vendors.filter((vendor) => vendor.budget_used_percent != null);
    setState(
      $("#spend-panel"),
      "ready",
      [
        section.spend_as_of ? `Spend as of ${when(section.spend_as_of)}` : "Spend not computed yet",
        ...budgeted.map((vendor) => `${vendor.provider} ${vendor.budget_used_percent} % of budget`),
      ].join(" · "),
    );

    draw($("#queue-chart"), {
      type: "bar",
      data: {
        labels: providers,
        datasets: [
          {
            label: "Queued",
            data: vendors.map((vendor) => vendor.queued ?? 0),
            backgroundColor: palette[1],
          },
          {
            label: "Due now",
            data: vendors.map((vendor) => vendor.due ?? 0),
            backgroundColor: palette[4],
          },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    const queue = section.queue ?? {};
    setState(
      $("#queue-panel"),
      "ready",
      `Outbox: ${whole.format(queue.queued ?? 0)} queued, ${whole.format(queue.due ?? 0)} due, ${
        whole.format(queue.sending ?? 0)
      } sending${
        queue.oldest_due_age_seconds == null
          ? ""
          : ` · oldest due ${duration(queue.oldest_due_age_seconds)} ago`
      }`,
    );
  }

  const toRupees = (paise) => (paise == null ? null : Number(paise) / 100);
  /** Seconds as a short duration (45 s, 12 min, 3.5 h). */
  function duration(seconds) {
    if (seconds < 60) return `${seconds} s`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  // ---------------------------------------------------------------- alerts

  async function loadAlerts() {
    const panel = $("#alerts-panel");
    setState(panel, "loading", "Loading…");
    try {
      const answer = await get("alerts", { status: "open" });
      const alerts = answer.data;
      if (alerts.length === 0) {
        $("#alerts-table").hidden = true;
        setState(panel, "ready", "No open alerts.");
        return;
      }
      fillTable(
        $("#alerts-table"),
        ["Rule", "Subject", "What", "Raised", "Last seen"],
        alerts.map((alert) => [
          alert.rule,
          alert.subject,
          alert.summary,
          when(alert.raised_at),
          when(alert.last_seen_at),
        ]),
      );
      const more = (answer.open ?? alerts.length) - alerts.length;
      setState(panel, "ready", more > 0 ? `The newest ${alerts.length}; ${more} more open.` : "");
    } catch (error) {
      showFailure(panel, error, "alerts");
    }
  }

  /** An instant as IST date and time. */
  function when(instant) {
    return instant ? new Date(instant).toLocaleString("en-IN", { timeZone }) : "—";
  }

  // ---------------------------------------------------------------- sign-in

  function showNotice(text) {
    $("#notice").textContent = text;
    $("#notice").hidden = !text;
  }

  function signOut(reason = "") {
    sessionStorage.removeItem(tokenKey);
    $("#panels").hidden = true;
    $("#who").hidden = true;
    $("#sign-out").hidden = true;
    $("#sign-in").hidden = false;
    showNotice(reason);
  }

  async function open() {
    $("#sign-in").hidden = true;
    showNotice("");
    let me;
    try {
      me = await get("me");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return; // signOut said why
      signOut(`Could not read your profile: ${error.message}`);
      return;
    }
    $("#who").textContent = `${me.full_name} · ${me.role}${me.node ? ` · ${me.node.name}` : ""}`;
    $("#who").hidden = false;
    $("#sign-out").hidden = false;
    if (me.role !== "admin" && me.role !== "manager") {
      document.body.dataset.access = "refused";
      showNotice(
        `The ops console is for admins and managers; you are signed in as ${
          /^[aeiou]/.test(me.role) ? "an" : "a"
        } ${me.role}.`,
      );
      return;
    }
    document.body.dataset.access = "granted";
    $("#panels").hidden = false;
    await Promise.all([setUpFunnel(me), loadChannels(), loadVendors(), loadAlerts()]);
    document.body.dataset.loaded = "true";
  }

  $("#sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    $("#token").value = "";
    if (!token) return;
    sessionStorage.setItem(tokenKey, token);
    open();
  });
  $("#sign-out").addEventListener("click", () => signOut());

  if (takeToken()) open();
  else signOut();
})();
