// How the simulated desk shows itself: the live funnel (a block redrawn in place each day on a
// terminal, one line per day otherwise) and the month's summary with next month's forecast.
import type { DayReport, SimulationResult } from "./engine.ts";
import type { Forecast } from "./forecast.ts";
import { type Funnel, stageOrder, statusOrder } from "./funnel.ts";
import { personas } from "./personas.ts";

/** Rupees from paise, Indian grouping: ₹1,23,456.78 (`digits` decimals at most, default 2). */
export function rupees(paise: number, digits = 2): string {
  return (paise / 100).toLocaleString("en-IN", {
    style: "currency",
    currency: "INR",
    minimumFractionDigits: 2,
    maximumFractionDigits: digits,
  });
}

const count = (n: number) => n.toLocaleString("en-IN");

/** `name n · name n` in the given order, leaving out zeros. */
function parts(figures: Record<string, number>, order: readonly string[]): string {
  const known = order.filter((key) => figures[key]);
  const others = Object.keys(figures).filter((key) => !order.includes(key) && figures[key]);
  return [...known, ...others].map((key) => `${key} ${count(figures[key])}`).join(" · ");
}

function spend(funnel: Funnel): string {
  const vendors = Object.entries(funnel.spendPaise).sort((a, b) => b[1] - a[1])
    .map(([vendor, paise]) => `${vendor} ${rupees(paise)}`).join(" · ");
  return `${rupees(funnel.spendTotalPaise)}${vendors ? `  (${vendors})` : ""}`;
}

function alerts(funnel: Funnel): string {
  const raised = Object.values(funnel.alerts).reduce((a, b) => a + b, 0);
  const rules = parts(funnel.alerts, []);
  return `${raised} raised or seen${rules ? ` (${rules})` : ""}, ${funnel.alertsOpen} open`;
}

/** What the desk and the customers did that day, in a few words. */
export function dayEvents(report: DayReport): string {
  const e = report.events;
  const bits = [
    `cadence queued ${e.cadence.queued ?? 0}`,
    e.opened ? `${e.opened} cases opened` : "",
    e.links ? `${e.links} links` : "",
    e.contacted ? `${e.contacted} contacted` : "",
    e.paid ? `${e.paid} paid` : "",
    e.stops ? `${e.stops} STOP` : "",
    e.pendingLapse ? `${e.pendingLapse} pending lapse` : "",
    e.lapsed ? `${e.lapsed} lapsed` : "",
    e.campaign ? `offer to ${e.campaign.audience} (${e.campaign.blocked} blocked)` : "",
    e.outage ? `${e.outage.toUpperCase()} DOWN` : "",
    e.drained ? "" : "worker still busy",
    stillQueuedWarning(e.stillQueued),
  ];
  return bits.filter(Boolean).join(" · ");
}

/** "N STILL QUEUED (reason n, ...)" when messages of the book wait past the drain, else "". */
export function stillQueuedWarning(stillQueued: Record<string, number>): string {
  const total = Object.values(stillQueued).reduce((sum, n) => sum + n, 0);
  if (total === 0) return "";
  const why = Object.entries(stillQueued).map(([reason, n]) => `${reason} ${count(n)}`);
  return `${count(total)} STILL QUEUED (${why.join(", ")})`;
}

/** The funnel as a block of lines, for a terminal. */
export function funnelBlock(report: DayReport, title: string): string[] {
  const f = report.funnel;
  return [
    `${title} · day ${report.day}/${report.days} · IST ${report.date}`,
    `  Cases      ${count(f.cases).padStart(7)}   ${parts(f.stages, stageOrder)}`,
    `  Messages   ${count(f.messages).padStart(7)}   ${parts(f.statuses, statusOrder)}`,
    `  Collected  ${rupees(f.collectedPaise)} from ${count(f.payments)} payments`,
    `  Spend      ${spend(f)}`,
    `  Alerts     ${alerts(f)}`,
    `  Today      ${dayEvents(report)}`,
  ];
}

/** The funnel in one line, for a log. */
export function funnelLine(report: DayReport): string {
  const f = report.funnel;
  return [
    `day ${String(report.day).padStart(2)}/${report.days} ${report.date}`,
    `cases ${f.cases} (${parts(f.stages, stageOrder)})`,
    `messages ${f.messages} (${parts(f.statuses, statusOrder)})`,
    `collected ${rupees(f.collectedPaise)}`,
    `spend ${rupees(f.spendTotalPaise)}`,
    `alerts ${Object.values(f.alerts).reduce((a, b) => a + b, 0)}`,
    dayEvents(report),
  ].join(" | ");
}

/**
 * A day printer: on a terminal it redraws the funnel block in place, elsewhere it prints one
 * line per day. `write` receives text to print as is.
 */
export function livePrinter(
  title: string,
  terminal: boolean,
  write: (text: string) => void,
): (report: DayReport) => void {
  let drawn = 0;
  return (report) => {
    if (!terminal) {
      write(`${funnelLine(report)}\n`);
      return;
    }
    const lines = funnelBlock(report, title);
    const up = drawn > 0 ? `\x1b[${drawn}F` : "";
    write(`${up}${lines.map((line) => `\x1b[2K${line}`).join("\n")}\n\x1b[J`);
    drawn = lines.length;
  };
}

function table(rows: string[][], right: number[] = []): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    "  " + r.map((cell, i) => right.includes(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))
      .join("  ").trimEnd()
  );
}

/** The forecast as lines: the table per vendor, then how it was computed. */
export function forecastLines(forecast: Forecast): string[] {
  const rows = [
    ["vendor", "kind", "messages", "unit", "spend"],
    ...forecast.rows.map((r) => [
      r.vendor,
      r.segments === undefined ? r.kind : `${r.kind} (${r.segments.toFixed(2)} segments)`,
      count(r.messages),
      rupees(r.unitPaise, 3),
      rupees(r.spendPaise),
    ]),
    [
      "total",
      "",
      count(forecast.rows.reduce((s, r) => s + r.messages, 0)),
      "",
      rupees(forecast.totalPaise),
    ],
  ];
  return [
    `Next month's spend forecast (IST ${forecast.from} to ${forecast.to})`,
    ...table(rows, [2, 3, 4]),
    "  How:",
    ...forecast.explanation.map((sentence) => `  - ${sentence}`),
  ];
}

/** The month's summary: the funnel, the personas, the outage, then next month's forecast. */
export function summaryLines(result: SimulationResult): string[] {
  const f = result.final;
  const seconds = (result.elapsedMs / 1000).toFixed(1);
  const renewed = f.stages.renewed ?? 0;
  return [
    `The month (IST ${result.firstDay} to ${result.lastDay}), book ${result.book.tag}: ` +
    `${
      count(result.book.customers.length)
    } policies, ${result.reports.length} days in ${seconds} s`,
    `  Cases      ${count(f.cases)}: ${parts(f.stages, stageOrder)}` +
    (f.cases ? ` (renewal rate ${Math.round((100 * renewed) / f.cases)}%)` : ""),
    `  Messages   ${count(f.messages)}: ${parts(f.statuses, statusOrder)}`,
    `  Collected  ${rupees(f.collectedPaise)} from ${count(f.payments)} captured payments`,
    `  Spend      ${spend(f)}`,
    `  Alerts     ${alerts(f)}`,
    result.outage
      ? `  Outage     ${result.outage.vendor} down on day ${result.outage.day} (IST ` +
        `${result.outage.date}): ${result.outage.onFallback} SMS went by the fallback ` +
        `(aws_sns), ${result.outage.afterFailures} of them after failing on Twilio` +
        (result.outage.onFallback > result.outage.afterFailures
          ? ", the rest while its breaker was open"
          : "")
      : "  Outage     none",
    ...(stillQueuedWarning(result.stillQueued)
      ? [
        `  WARNING    ${stillQueuedWarning(result.stillQueued)}: not sent by the month's end, ` +
        `due later than the worker could claim them (counted as queued, not billed)`,
      ]
      : []),
    `  Offers     ${
      result.campaigns.map((c) => `day ${c.day} to ${count(c.audience)}`).join(", ") || "none"
    }` +
    `; STOP replies ${result.stops.length}`,
    "",
    "  Customers by persona",
    ...table([
      ["persona", "customers", "paid", "renewed", "messages", "read", "STOP", "behaviour"],
      ...result.personas.map((p) => [
        p.persona,
        count(p.customers),
        count(p.paid),
        count(p.renewed),
        count(p.messages),
        count(p.read),
        count(p.stops),
        personas[p.persona].description,
      ]),
    ], [1, 2, 3, 4, 5, 6]),
    "",
    ...forecastLines(result.forecast),
  ];
}
