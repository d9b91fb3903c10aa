// The rule-based renewal options of a case, each with a reason tied to the customer's own data
// and the facts it cites: renew as it is; pay yearly instead of in installments (with the saving
// when INSTALLMENT_LOADING_PCT says what installments cost); protect a motor no-claim bonus; a
// higher or lower sum insured; an add-on for the product line. They are the answer when the
// assistant is off or fails, and the only options the assistant may rank and word.
// Texts name the customer only as `<customer>`; the handler puts the first name back.
import type { CaseFacts, SubjectFacts } from "./case_facts.ts";
import { isOpen, premiumChangePct } from "./risk_rules.ts";
import { counted, frequencyWords, installmentsPerYear, rupees } from "./wording.ts";

/** The renewal options the rules know. */
export const recommendationOptions = [
  "keep",
  "switch_to_annual",
  "protect_ncb",
  "raise_sum_insured",
  "lower_sum_insured",
  "add_zero_depreciation",
  "add_super_top_up",
  "add_accident_rider",
  "add_contents_cover",
] as const;

/** One of recommendationOptions. */
export type RecommendationOption = typeof recommendationOptions[number];

/** A fact's value as the rules cite it. */
export type FactValue = string | number | boolean | null;

/**
 * The facts of one case the options cite, by key: amounts in paise, days from today (IST),
 * percentages. Keys under `customer.` are the customer's, the rest the case's. No personal data.
 */
export type FactSheet = Record<string, FactValue>;

/** A renewal option for one case: what to offer, why (in words), and the facts that say so. */
export interface Candidate {
  case_id: string;
  option: RecommendationOption;
  title: string;
  /** Why, from the customer's own data; `<customer>` for the customer. */
  reason: string;
  /** The keys of the fact sheet the reason rests on (at least one). */
  facts: string[];
  /** What paying yearly saves a year, in paise (switch_to_annual with a loading known). */
  saving_paise: number | null;
  /** The sum insured proposed, in paise (raise_ / lower_sum_insured). */
  proposed_sum_insured: number | null;
}

/** Health sums insured offered, in paise (₹3 lakh to ₹1 crore). */
export const healthSumInsuredSteps = [
  30_000_000,
  50_000_000,
  75_000_000,
  100_000_000,
  150_000_000,
  200_000_000,
  250_000_000,
  500_000_000,
  1_000_000_000,
];

/** A health sum insured below this (₹10 lakh) is worth raising when nothing strains the budget. */
export const healthSumInsuredFloor = 100_000_000;

/** The step a home sum insured (or a motor IDV, down only) moves by: 10 %. */
export const sumInsuredStepPct = 10;

/** Amounts proposed are rounded to ₹10,000 (in paise). */
const roundTo = 1_000_000;

/** A premium rise at the last renewal (percent) from which the budget counts as strained. */
export const strainingRisePct = 10;

/** The fact sheet of one case (and its customer). Keys with no value are left out. */
export function factSheet(c: CaseFacts, facts: SubjectFacts): FactSheet {
  const configured = c.payment_frequency === "annual"
    ? undefined
    : facts.settings.installment_loading_pct?.[c.payment_frequency];
  // A loading that is not a percentage between 0 and 100 (a mistyped setting) gives no saving.
  const loading = typeof configured === "number" && configured > 0 && configured < 100
    ? configured
    : null;
  const sheet: FactSheet = {
    product_line: c.product_line,
    stage: c.stage,
    days_to_expiry: c.days_to_expiry,
    premium_paise: c.premium,
    previous_premium_paise: c.previous_premium,
    premium_change_pct: premiumChangePct(c),
    sum_insured_paise: c.sum_insured,
    previous_sum_insured_paise: c.previous_sum_insured,
    payment_frequency: c.payment_frequency,
    installments_per_year: installmentsPerYear[c.payment_frequency],
    installment_loading_pct: loading,
    annual_saving_paise: loading ? annualSaving(c.premium, loading) : null,
    ncb_percent: c.product_line === "motor" ? c.ncb_percent : null,
    ncb_retention_days: c.product_line === "motor" ? facts.settings.ncb_retention_days : null,
    outstanding_paise: c.outstanding,
    overdue_installments: c.overdue_installments,
    failed_payments: c.failed_payments,
    risk_band: c.risk?.band ?? null,
    risk_score: c.risk?.score ?? null,
    "customer.tenure_years": facts.customer.tenure_years,
  };
  return Object.fromEntries(Object.entries(sheet).filter(([, value]) => value !== null));
}

/**
 * What paying yearly saves, in paise: the premium paid in installments carries the loading, so
 * the yearly price is premium / (1 + loading/100) and the saving the difference (rounded to the
 * paisa).
 */
export function annualSaving(premium: number, loadingPct: number): number {
  return premium - Math.round(premium / (1 + loadingPct / 100));
}

/** `paise` rounded to ₹10,000, at least ₹10,000. */
const rounded = (paise: number) => Math.max(roundTo, Math.round(paise / roundTo) * roundTo);

/** Why the budget looks strained: the facts that say so (empty when nothing does). */
export function strainFacts(sheet: FactSheet): string[] {
  const strained: string[] = [];
  if (Number(sheet.premium_change_pct ?? 0) >= strainingRisePct) {
    strained.push("premium_change_pct");
  }
  if (Number(sheet.failed_payments ?? 0) > 0) strained.push("failed_payments");
  if (Number(sheet.overdue_installments ?? 0) > 0) strained.push("overdue_installments");
  return strained;
}

/** The strain in words: "the premium rose 18% at the last renewal and 1 payment attempt failed". */
function strainWords(sheet: FactSheet, keys: string[]): string {
  const words = keys.map((key) =>
    key === "premium_change_pct"
      ? `the premium rose ${sheet.premium_change_pct}% at the last renewal`
      : key === "failed_payments"
      ? `${counted(Number(sheet.failed_payments), "payment attempt")} failed`
      : `${counted(Number(sheet.overdue_installments), "installment")} ${
        sheet.overdue_installments === 1 ? "is" : "are"
      } overdue`
  );
  return words.length > 1 ? `${words.slice(0, -1).join(", ")} and ${words.at(-1)}` : words[0];
}

const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The add-on offered for each product line, and why it suits that cover. */
const addOns = {
  motor: {
    option: "add_zero_depreciation",
    title: "Add zero depreciation",
    why: (sheet: FactSheet) =>
      `With an IDV of ${rupees(Number(sheet.sum_insured_paise))}, a zero-depreciation add-on ` +
      "pays for replaced parts in full instead of their depreciated value.",
  },
  health: {
    option: "add_super_top_up",
    title: "Add a super top-up",
    why: (sheet: FactSheet) =>
      `A super top-up above the ${rupees(Number(sheet.sum_insured_paise))} sum insured adds ` +
      "cover for large hospital bills for less than a higher base sum insured.",
  },
  life: {
    option: "add_accident_rider",
    title: "Add an accidental death rider",
    why: (sheet: FactSheet) =>
      `An accidental death benefit rider adds to the ${
        rupees(Number(sheet.sum_insured_paise))
      } sum assured for a small extra premium.`,
  },
  home: {
    option: "add_contents_cover",
    title: "Add contents cover",
    why: (sheet: FactSheet) =>
      `The ${rupees(Number(sheet.sum_insured_paise))} sum insured covers the building; ` +
      "contents cover protects what is inside it as well.",
  },
} as const;

/**
 * The rule-based options of one open case, best first. A strained budget (the premium rose
 * ≥ 10 % at the last renewal, a payment failed, an installment is overdue) puts a lower sum
 * insured first and offers no raise and no add-on; otherwise protecting the NCB and paying yearly
 * come first, then renewing as it is, a higher sum insured, an add-on.
 */
export function caseCandidates(c: CaseFacts, facts: SubjectFacts): Candidate[] {
  if (!isOpen(c)) return [];
  const sheet = factSheet(c, facts);
  const make = (
    option: RecommendationOption,
    title: string,
    reason: string,
    cited: string[],
    extra: Partial<Pick<Candidate, "saving_paise" | "proposed_sum_insured">> = {},
  ): Candidate => ({
    case_id: c.case_id,
    option,
    title,
    reason,
    facts: cited.filter((key) => key in sheet),
    saving_paise: extra.saving_paise ?? null,
    proposed_sum_insured: extra.proposed_sum_insured ?? null,
  });
  const strained = strainFacts(sheet);
  const due = c.days_to_expiry >= 0
    ? `due in ${counted(c.days_to_expiry, "day")}`
    : `expired ${counted(-c.days_to_expiry, "day")} ago`;

  const change = premiumChangePct(c);
  const keep = make(
    "keep",
    "Renew as it is",
    `Renew the ${c.product_line} cover unchanged: ${rupees(c.premium)} a year for a sum insured ` +
      `of ${rupees(c.sum_insured)}${
        change === null
          ? ""
          : change >= 0
          ? ` (the premium rose ${change}% at the last renewal)`
          : ` (the premium fell ${-change}% at the last renewal)`
      }, ${due}.`,
    ["premium_paise", "sum_insured_paise", "premium_change_pct", "days_to_expiry"],
  );

  let annual: Candidate | undefined;
  if (c.payment_frequency !== "annual") {
    const n = installmentsPerYear[c.payment_frequency];
    const saving = typeof sheet.annual_saving_paise === "number" ? sheet.annual_saving_paise : null;
    annual = make(
      "switch_to_annual",
      "Pay yearly",
      saving
        ? `Paying ${rupees(c.premium - saving)} once a year instead of ${
          counted(n, `${frequencyWords[c.payment_frequency]} installment`)
        } saves ${rupees(saving)} a year (installments cost ${sheet.installment_loading_pct}% ` +
          "more) and leaves one payment to remember."
        : `One payment of ${rupees(c.premium)} a year instead of ${
          counted(n, `${frequencyWords[c.payment_frequency]} installment`)
        }: no installment to miss during the year.`,
      saving
        ? [
          "payment_frequency",
          "installments_per_year",
          "premium_paise",
          "installment_loading_pct",
          "annual_saving_paise",
        ]
        : ["payment_frequency", "installments_per_year", "premium_paise"],
      { saving_paise: saving },
    );
  }

  let ncb: Candidate | undefined;
  const retention = facts.settings.ncb_retention_days;
  if (c.product_line === "motor" && c.ncb_percent > 0) {
    const daysLeft = c.days_to_expiry >= 0
      ? null
      : retention === null
      ? null
      : retention + c.days_to_expiry;
    if (c.days_to_expiry >= 0 || daysLeft === null || daysLeft >= 0) {
      ncb = make(
        "protect_ncb",
        "Protect the no-claim bonus",
        `<customer> has earned a ${c.ncb_percent}% no-claim bonus: ${
          c.days_to_expiry >= 0
            ? `renew within ${counted(c.days_to_expiry, "day")}, before the policy expires`
            : daysLeft === null
            ? "renew now, before it is lost"
            : `renew within ${counted(daysLeft, "day")} or it is lost`
        }, and add NCB protection so one claim does not reset it.`,
        ["ncb_percent", "days_to_expiry", "ncb_retention_days"],
      );
    }
  }

  let raise: Candidate | undefined;
  let lower: Candidate | undefined;
  const unchanged = c.previous_sum_insured !== null && c.previous_sum_insured === c.sum_insured;
  if (c.product_line === "health") {
    const up = healthSumInsuredSteps.find((step) => step > c.sum_insured);
    const down = healthSumInsuredSteps.findLast((step) => step < c.sum_insured);
    if (strained.length === 0 && up && (c.sum_insured < healthSumInsuredFloor || unchanged)) {
      raise = make(
        "raise_sum_insured",
        "Raise the sum insured",
        `The sum insured of ${rupees(c.sum_insured)} ${
          unchanged ? "has not changed since the last term" : "is under ₹10,00,000"
        } while hospital costs rise every year: consider ${rupees(up)}.`,
        ["sum_insured_paise", unchanged ? "previous_sum_insured_paise" : "product_line"],
        { proposed_sum_insured: up },
      );
    }
    if (strained.length > 0 && down) {
      lower = make(
        "lower_sum_insured",
        "Lower the sum insured",
        `${capital(strainWords(sheet, strained))}: a sum insured of ${rupees(down)} instead of ` +
          `${rupees(c.sum_insured)} lowers the premium and keeps <customer> covered.`,
        ["sum_insured_paise", ...strained],
        { proposed_sum_insured: down },
      );
    }
  } else if (c.product_line === "home" || c.product_line === "motor") {
    const step = (factor: number) => rounded(c.sum_insured * factor);
    if (c.product_line === "home" && strained.length === 0 && unchanged) {
      const up = step(1 + sumInsuredStepPct / 100);
      raise = make(
        "raise_sum_insured",
        "Raise the sum insured",
        `The sum insured of ${rupees(c.sum_insured)} has not changed since the last term while ` +
          `rebuilding costs rise: consider ${rupees(up)}.`,
        ["sum_insured_paise", "previous_sum_insured_paise"],
        { proposed_sum_insured: up },
      );
    }
    const down = step(1 - sumInsuredStepPct / 100);
    if (strained.length > 0 && down < c.sum_insured) {
      lower = make(
        "lower_sum_insured",
        c.product_line === "motor" ? "Lower the IDV" : "Lower the sum insured",
        `${capital(strainWords(sheet, strained))}: ${
          c.product_line === "motor" ? "an IDV" : "a sum insured"
        } of ${rupees(down)} instead of ${rupees(c.sum_insured)} lowers the premium and keeps ` +
          "<customer> covered.",
        ["sum_insured_paise", ...strained],
        { proposed_sum_insured: down },
      );
    }
  }

  let addOn: Candidate | undefined;
  if (strained.length === 0) {
    const offer = addOns[c.product_line];
    addOn = make(offer.option, offer.title, offer.why(sheet), [
      "product_line",
      "sum_insured_paise",
    ]);
  }

  const ranked = strained.length > 0
    ? [lower, ncb, keep, annual]
    : [ncb, annual, keep, raise, addOn];
  return ranked.filter((candidate): candidate is Candidate => candidate !== undefined);
}

/** The rule-based options of every case of the subject, case by case (riskiest case first). */
export function ruleCandidates(facts: SubjectFacts): Candidate[] {
  return facts.cases.flatMap((c) => caseCandidates(c, facts));
}

/** The rules' summary of the options. */
export function ruleSummary(facts: SubjectFacts, candidates: Candidate[]): string {
  if (candidates.length === 0) {
    const closed = facts.cases[0];
    return closed
      ? `Case ${closed.case_number} is closed (${closed.stage}): nothing to recommend.`
      : "<customer> has no open renewal case: nothing to recommend.";
  }
  const titles = candidates.slice(0, 3).map((candidate) =>
    candidate.title.charAt(0).toLowerCase() + candidate.title.slice(1)
  );
  const list = titles.length > 1
    ? `${titles.slice(0, -1).join(", ")} or ${titles.at(-1)}`
    : titles[0];
  return `${counted(candidates.length, "renewal option")} for <customer>, best first: ${list}.`;
}
