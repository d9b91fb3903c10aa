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
  const stages = [
    "new",
    "contacted",
    "quoted",
    "payment_pending",
    "renewed",
    "pending_lapse",
    "lapsed",
    "lost",
    "not_taken",
  ];
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

  /** Cases by stage as [stage, cases] pairs in pipeline order (object or array answers). */
  function casesByStage(performance) {
    const raw = performance.cases_by_stage ?? {};
    const counts = Array.isArray(raw)
      ? Object.fromEntries(raw.map((row) => [row.stage, row.cases]))
      : raw;
    const known = stages.filter((stage) => stage in counts);
    const others = Object.keys(counts).filter((stage) => !stages.includes(stage));
    return [...known, ...others].map((stage) => [stage, Number(counts[stage])]);
  }

  async function loadFunnel(panel, nodeId) {
    setState(panel, "loading", "Loading…");
    const [today] = businessDays(1);
    try {
      const performance = await get(`hierarchy/${encodeURIComponent(nodeId)}/performance`, {
        from: today,
        to: today,
      });
      const pairs = casesByStage(performance);
      draw($("#funnel-chart"), {
        type: "bar",
        data: {
          labels: pairs.map(([stage]) => stage),
          datasets: [{
            label: `Cases due ${today}`,
            data: pairs.map(([, cases]) => cases),
            backgroundColor: palette[0],
          }],
        },
        options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
      });
      $(".facts-as-of", panel).textContent = performance.facts_as_of
        ? `Facts as of ${new Date(performance.facts_as_of).toLocaleString("en-IN", { timeZone })}`
        : "";
      const children = performance.children ?? [];
      if (children.length > 0) {
        fillTable(
          $("#funnel-children"),
          ["Node", "Cases", "Renewed", "Renewal rate", "Premium due", "Collected"],
          children.map((child) => {
            const counts = Object.fromEntries(casesByStage(child));
            const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
            return [
              child.node?.name ?? child.name ?? child.node_id,
              number(total),
              number(counts.renewed ?? 0),
              { text: percent(child.renewal_rate), className: "number" },
              {
                text: paiseText(child.premium?.due_paise ?? child.premium_due_paise),
                className: "number",
              },
              {
                text: paiseText(child.premium?.collected_paise ?? child.premium_collected_paise),
                className: "number",
              },
            ];
          }),
        );
      } else {
        $("#funnel-children").hidden = true;
      }
      const total = pairs.reduce((sum, [, cases]) => sum + cases, 0);
      setState(panel, "ready", total === 0 ? `No cases due ${today} under this node.` : "");
    } catch (error) {
      showFailure(panel, error, "hierarchy performance");
    }
  }

  const paiseText = (paise) => (paise == null ? "—" : asRupees(paise));
  /** A rate (0..1, or an object with `rate` / `value`) as a percentage. */
  function percent(rate) {
    const value = typeof rate === "object" && rate !== null ? rate.rate ?? rate.value : rate;
    return value == null ? "—" : `${(Number(value) * 100).toFixed(1)} %`;
  }

  async function setUpFunnel() {
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
      ...flatten(tree).map(({ node, depth }) => {
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
    select.addEventListener("change", () => loadFunnel(panel, select.value));
    await loadFunnel(panel, select.value);
  }

  // ---------------------------------------------------------------- channels

  /** The series' points by IST day (YYYY-MM-DD), whatever the bucket field is called. */
  function pointsByDay(series) {
    const byDay = new Map();
    for (const point of series) {
      const start = point.day ?? point.bucket_start ?? point.start ?? point.at;
      const day = /^\d{4}-\d{2}-\d{2}$/.test(start)
        ? start
        : new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date(start));
      byDay.set(day, point);
    }
    return byDay;
  }

  /** Delivered ÷ sent of a point, in percent to one decimal; null when nothing was sent. */
  function deliveryRate(point) {
    const counts = point?.counts ?? point;
    if (!counts || !counts.sent) return null;
    return Math.round((counts.delivered / counts.sent) * 1000) / 10;
  }

  /** The p95 queue→delivered latency of a point, in seconds; null when none was measured. */
  function deliveredP95(point) {
    const latency = point?.latency?.queue_to_delivered ?? point?.queue_to_delivered;
    return latency?.p95_seconds ?? null;
  }

  async function loadChannels() {
    const panels = [$("#delivery-panel"), $("#latency-panel")];
    for (const panel of panels) setState(panel, "loading", "Loading…");
    const days = businessDays(30);
    let channels;
    try {
      channels = (await get("channels")).data;
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

  /** The health answer's vendor section as a list of {provider, ...} (object or array). */
  function vendorList(health) {
    const section = health.vendor_health ?? health.providers ?? health.vendors;
    if (!section || typeof section !== "object") return null;
    const list = Array.isArray(section)
      ? section
      : Object.entries(section).map(([provider, value]) =>
        typeof value === "object" && value !== null ? { provider, ...value } : null
      );
    return list.every((vendor) => vendor !== null && typeof vendor === "object") ? list : null;
  }

  async function loadVendors() {
    const panels = [$("#vendors-panel"), $("#spend-panel"), $("#queue-panel")];
    for (const panel of panels) setState(panel, "loading", "Loading…");
    let vendors;
    try {
      const health = await get("health");
      if (!health.database) {
        for (const panel of panels) setState(panel, "refused", "For admins only.");
        return;
      }
      vendors = vendorList(health);
    } catch (error) {
      for (const panel of panels) showFailure(panel, error, "health");
      return;
    }
    if (!vendors) {
      for (const panel of panels) {
        setState(
          panel,
          "unavailable",
          "Not available: this API's health has no vendor section yet.",
        );
      }
      return;
    }
    vendors.sort((a, b) => String(a.provider).localeCompare(String(b.provider)));
    fillTable(
      $("#vendors-table"),
      ["Vendor", "Enabled", "Breaker", "Error rate (15 min)", "p95 (15 min)", "Quota used today"],
      vendors.map((vendor) => [
        vendor.provider,
        vendor.enabled === undefined
          ? "—"
          : vendor.enabled
          ? "yes"
          : `no${vendor.reason ? `: ${vendor.reason}` : ""}`,
        { text: breakerState(vendor), className: `state-${breakerState(vendor)}` },
        {
          text: percent(vendor.error_rate ?? vendor.last_15_minutes?.error_rate),
          className: "number",
        },
        {
          text: seconds(vendor.p95_seconds ?? vendor.last_15_minutes?.p95_seconds),
          className: "number",
        },
        { text: quotaText(vendor), className: "number" },
      ]),
    );
    setState($("#vendors-panel"), "ready", vendors.length === 0 ? "No vendors." : "");

    const spend = (vendor) => vendor.spend ?? vendor.month ?? vendor;
    draw($("#spend-chart"), {
      type: "bar",
      data: {
        labels: vendors.map((vendor) => vendor.provider),
        datasets: [
          {
            label: "Spent this month (₹)",
            data: vendors.map((vendor) =>
              toRupees(spend(vendor).spent_paise ?? spend(vendor).spend_paise)
            ),
            backgroundColor: palette[0],
          },
          {
            label: "Monthly budget (₹)",
            data: vendors.map((vendor) => toRupees(spend(vendor).budget_paise)),
            backgroundColor: "#c7d2e3",
          },
        ],
      },
      options: { scales: { y: { beginAtZero: true } } },
    });
    setState($("#spend-panel"), "ready", "");

    const queue = (vendor) => vendor.queue ?? vendor;
    draw($("#queue-chart"), {
      type: "bar",
      data: {
        labels: vendors.map((vendor) => vendor.provider),
        datasets: [{
          label: "Messages queued",
          data: vendors.map((vendor) => queue(vendor).depth ?? queue(vendor).queue_depth ?? 0),
          backgroundColor: palette[1],
        }],
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
    });
    const oldest = vendors
      .map((
        vendor,
      ) => [
        vendor.provider,
        queue(vendor).oldest_age_seconds ?? queue(vendor).oldest_queued_age_seconds,
      ])
      .filter(([, age]) => age != null);
    setState(
      $("#queue-panel"),
      "ready",
      oldest.map(([provider, age]) => `${provider}: oldest queued ${seconds(age)}`).join(" · "),
    );
  }

  const breakerState = (vendor) =>
    vendor.breaker?.state ?? vendor.breaker_state ?? vendor.breaker ?? "—";
  const toRupees = (paise) => (paise == null ? null : Number(paise) / 100);
  const seconds = (value) => (value == null ? "—" : `${Number(value).toFixed(1)} s`);
  function quotaText(vendor) {
    const quota = vendor.quota ?? vendor;
    const used = quota.used ?? quota.quota_used;
    const limit = quota.daily_quota ?? quota.limit;
    if (used == null) return "—";
    return limit == null
      ? `${whole.format(used)} (no limit)`
      : `${whole.format(used)} / ${whole.format(limit)}`;
  }

  // ---------------------------------------------------------------- alerts

  async function loadAlerts() {
    const panel = $("#alerts-panel");
    setState(panel, "loading", "Loading…");
    try {
      const alerts = (await get("alerts", { status: "open" })).data;
      const open = alerts.filter((alert) => alert.status === undefined || alert.status === "open");
      if (open.length === 0) {
        $("#alerts-table").hidden = true;
        setState(panel, "ready", "No open alerts.");
        return;
      }
      fillTable(
        $("#alerts-table"),
        ["Rule", "Subject", "Raised", "Last seen", "Value"],
        open.map((alert) => [
          alert.rule ?? alert.rule_code,
          alert.subject,
          when(alert.raised_at),
          when(alert.last_seen_at),
          alert.value == null ? "—" : String(alert.value),
        ]),
      );
      setState(panel, "ready", "");
    } catch (error) {
      showFailure(panel, error, "alerts");
    }
  }

  const when = (
    instant,
  ) => (instant ? new Date(instant).toLocaleString("en-IN", { timeZone }) : "—");

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
      showNotice(`Could not read your profile: ${error.message}`);
      return;
    }
    $("#who").textContent = `${me.full_name} · ${me.role}${me.node ? ` · ${me.node.name}` : ""}`;
    $("#who").hidden = false;
    $("#sign-out").hidden = false;
    if (me.role !== "admin" && me.role !== "manager") {
      document.body.dataset.access = "refused";
      showNotice(
        `The ops console is for admins and managers; you are signed in as ${
          me.role === "agent" ? "an" : "a"
        } ${me.role}.`,
      );
      return;
    }
    document.body.dataset.access = "granted";
    $("#panels").hidden = false;
    await Promise.all([setUpFunnel(), loadChannels(), loadVendors(), loadAlerts()]);
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
