// Small helpers the rule-based answers of /api/ai write their sentences with: rupees from paise,
// counted nouns, product lines and stages in words. Plain English; the desk reads it.
import type { caseStages, paymentFrequencies } from "../../_shared/domain.ts";

const rupeeFormat = new Intl.NumberFormat("en-IN", { maximumFractionDigits: 0 });

/** Paise as rupees the Indian way, rounded to the rupee: 150000000 → "₹15,00,000". */
export function rupees(paise: number): string {
  return `₹${rupeeFormat.format(Math.round(paise / 100))}`;
}

/** `count` and the noun, pluralised with `plural` (default noun + "s"): "1 payment", "2 payments". */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : plural}`;
}

/** A case stage as the desk says it. */
export const stageWords: Record<typeof caseStages[number], string> = {
  new: "new",
  contacted: "contacted",
  quoted: "quoted",
  payment_pending: "awaiting payment",
  renewed: "renewed",
  pending_lapse: "about to lapse",
  lapsed: "lapsed",
  lost: "lost",
  not_taken: "not taken",
};

/** How many installments a year each payment frequency has. */
export const installmentsPerYear: Record<typeof paymentFrequencies[number], number> = {
  annual: 1,
  half_yearly: 2,
  quarterly: 4,
  monthly: 12,
};

/** A payment frequency in words: "half-yearly". */
export const frequencyWords: Record<typeof paymentFrequencies[number], string> = {
  annual: "yearly",
  half_yearly: "half-yearly",
  quarterly: "quarterly",
  monthly: "monthly",
};

/** "+12 points" / "-6 points": a reason's weight as the desk reads it. */
export function points(weight: number): string {
  return `${weight > 0 ? "+" : weight < 0 ? "−" : ""}${counted(Math.abs(weight), "point")}`;
}
