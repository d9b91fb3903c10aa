// A policy's timeline as CSV (RFC 4180): a header row, CRLF line ends, every cell quoted when it
// holds a comma, a quote or a line break, and no cell a spreadsheet would run as a formula.
import type { PolicyTimeline } from "./routes.ts";

/** The CSV's columns, in order. */
export const timelineCsvColumns = [
  "at",
  "kind",
  "actor_type",
  "actor_id",
  "actor_name",
  "actor_role",
  "summary",
  "why",
  "refs",
] as const;

/**
 * One CSV cell: text starting with =, +, -, @, a tab or a carriage return gets a leading
 * apostrophe (so Excel, LibreOffice and Sheets show it rather than run it), then the cell is
 * quoted, its quotes doubled, when it holds a comma, a quote, CR or LF. Null is an empty cell.
 */
export function csvCell(value: string | null): string {
  if (value === null) return "";
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** The entries as CSV text, header first, each line ended by CRLF. */
export function timelineCsv(entries: PolicyTimeline["entries"]): string {
  const lines = [timelineCsvColumns.join(",")];
  for (const entry of entries) {
    lines.push(
      [
        entry.at,
        entry.kind,
        entry.actor.type,
        entry.actor.id,
        entry.actor.name,
        entry.actor.role,
        entry.summary,
        entry.why,
        JSON.stringify(entry.refs),
      ].map(csvCell).join(","),
    );
  }
  return lines.map((line) => `${line}\r\n`).join("");
}

/** The download's file name: the policy number with anything but letters, digits, `.`, `_` and
 * `-` turned into `-` (MOT/2027/000203 → policy-MOT-2027-000203-timeline.csv). */
export function timelineFileName(policyNumber: string): string {
  return `policy-${policyNumber.replace(/[^A-Za-z0-9._-]+/g, "-")}-timeline.csv`;
}
