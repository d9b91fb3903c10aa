// The case chat's answer without the model (the assistant switched off, not configured, over
// budget, down or slow): a factual summary of the case built from its facts alone, the parts the
// agent asked about first. It invents nothing: every figure is one of the facts.
import type { FallbackReason } from "./answer.ts";
import type { CaseFacts } from "./chat_facts.ts";

const reasonWords: Record<FallbackReason, string> = {
  disabled: "the AI assistant is switched off",
  not_configured: "the AI assistant is not configured",
  rate_limited: "the AI assistant is busy",
  over_budget: "the AI assistant has used its budget for now",
  unavailable: "the AI assistant is unavailable right now",
  timeout: "the AI assistant took too long to answer",
  invalid: "the AI assistant could not give a usable answer",
};

/** `paise` as rupees with Indian digit grouping and two decimals: 150000000 → `₹15,00,000.00`. */
export function formatRupees(paise: number): string {
  const sign = paise < 0 ? "-" : "";
  const whole = Math.floor(Math.abs(paise) / 100);
  const rest = Math.abs(paise) % 100;
  const digits = String(whole);
  const last3 = digits.slice(-3);
  const head = digits.slice(0, -3).replace(/\B(?=(\d{2})+$)/g, ",");
  return `${sign}₹${head ? `${head},${last3}` : last3}.${String(rest).padStart(2, "0")}`;
}

/** An instant as an IST date and time: `2026-11-30 10:00 IST`. */
function istDateTime(iso: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: "Asia/Kolkata",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(iso));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")} ${part("hour")}:${part("minute")} IST`;
}

/** An instant's IST date: `2026-11-30`. */
const istDate = (iso: string) => istDateTime(iso).slice(0, 10);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Days between two IST dates (`YYYY-MM-DD`), b - a. */
const daysBetween = (a: string, b: string) =>
  Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);

const words = (text: string) => text.replaceAll("_", " ");

/** The parts of the summary, each a few sentences, and the words that ask for it. */
type Part = { name: string; asks: RegExp; sentences: (facts: CaseFacts) => string[] };

const parts: Part[] = [
  {
    name: "due",
    asks: /\b(due|expir\w*|grace|lapse\w*|when|date|days?|deadline|renew\w*)\b/i,
    sentences: (f) => {
      const graceLeft = daysBetween(f.today, f.grace_end);
      const due = f.days_to_due > 0
        ? `It is due on ${f.due_date}, in ${plural(f.days_to_due, "day")}.`
        : f.days_to_due === 0
        ? `It is due today, ${f.due_date}.`
        : `Its due date, ${f.due_date}, passed ${plural(-f.days_to_due, "day")} ago.`;
      const grace = f.grace_end === f.due_date
        ? "There is no grace period after it."
        : graceLeft >= 0
        ? `Grace ends on ${f.grace_end}, in ${plural(graceLeft, "day")}.`
        : `Grace ended on ${f.grace_end}.`;
      return [due, grace];
    },
  },
  {
    name: "outstanding",
    asks: /\b(pay\w*|paid|owe\w*|outstanding|amount|premium|instal+ments?|balance|rupees?|rs)\b|₹/i,
    sentences: (f) => {
      const open = f.installments.filter((i) => i.status === "pending" || i.status === "overdue");
      if (f.outstanding_paise <= 0) {
        return [`Nothing is outstanding; the premium is ${formatRupees(f.premium_paise)}.`];
      }
      const listed = open.slice(0, 4).map((i) =>
        `installment ${i.number} of ${
          formatRupees(i.amount_paise - i.paid_paise)
        } due ${i.due_date}` +
        ` (${i.status})`
      );
      const more = open.length > 4 ? ` and ${plural(open.length - 4, "more installment")}` : "";
      return [
        `${formatRupees(f.outstanding_paise)} is outstanding` +
        (listed.length > 0 ? `: ${listed.join("; ")}${more}.` : "."),
      ];
    },
  },
  {
    name: "risk",
    asks: /\b(risk\w*|lapse\w*|score\w*|likely|chance\w*|why|priority|band)\b/i,
    sentences: (f) => {
      if (!f.risk) {
        return ["It has no lapse-risk score yet (the daily scoring has not reached it)."];
      }
      const reasons = f.risk.reasons.map((r) =>
        `${words(r.feature)} ${r.value === null ? "" : `${r.value} `}` +
        `${r.direction === "lowers" ? "lowers" : "raises"} it by ${Math.abs(r.weight)} points`
      );
      return [
        `Its lapse risk is ${f.risk.score}/100 (${f.risk.band}), scored ${
          istDate(f.risk.scored_at)
        }${reasons.length > 0 ? `: ${reasons.join("; ")}` : ""}.`,
      ];
    },
  },
  {
    name: "messages",
    asks:
      /\b(messages?|whats\s?app|sms|e-?mails?|mails?|remind\w*|contact\w*|sent|read|deliver\w*|reach\w*)\b/i,
    sentences: (f) => {
      if (f.recent_messages.length === 0) return ["No message has been sent about it yet."];
      const listed = f.recent_messages.map((m) =>
        `${m.channel}${m.template ? ` ${m.template}` : ""} ${m.status} (${istDate(m.at)})`
      );
      return [`Latest messages, newest first: ${listed.join("; ")}.`];
    },
  },
  {
    name: "payments",
    asks: /\b(pay\w*|fail\w*|refund\w*|transactions?|card|upi|mandate|autopay)\b/i,
    sentences: (f) => {
      if (f.recent_payments.length === 0) return ["No payment has been attempted on it yet."];
      const listed = f.recent_payments.map((p) =>
        `${p.status} ${formatRupees(p.amount_paise)} (${istDate(p.at)})`
      );
      return [`Latest payments, newest first: ${listed.join("; ")}.`];
    },
  },
  {
    name: "tasks",
    asks: /\b(tasks?|call\w*|follow\w*|sla|escalat\w*|to-?do)\b/i,
    sentences: (f) => {
      if (f.open_tasks.length === 0) return ["It has no open task."];
      const listed = f.open_tasks.map((t) =>
        `a ${t.kind} (${t.status}, SLA until ${istDateTime(t.sla_due_at)}` +
        `${t.escalation_level > 0 ? `, escalated ${plural(t.escalation_level, "level")}` : ""})`
      );
      return [`Open tasks: ${listed.join("; ")}.`];
    },
  },
];

/**
 * The rules answer to `question` about the case of `facts`, as sentences to stream one by one:
 * the case's stage first, then the parts the question asks about (due dates, what is owed, the
 * lapse risk, messages, payments, tasks), then the others, and a last sentence saying that this
 * is a summary and why (`reason`). Personal data never appears: the facts hold none.
 */
export function rulesAnswer(facts: CaseFacts, question: string, reason: FallbackReason): string[] {
  const asked = parts.filter((part) => part.asks.test(question));
  const rest = parts.filter((part) => !asked.includes(part));
  return [
    `Case ${facts.case_number} (${words(facts.product_line)}, ${facts.insurer}) is at stage ` +
    `${words(facts.stage)}, priority ${facts.priority}.`,
    ...[...asked, ...rest].flatMap((part) => part.sentences(facts)),
    `This is a summary of the case's data: ${reasonWords[reason]}.`,
  ];
}
