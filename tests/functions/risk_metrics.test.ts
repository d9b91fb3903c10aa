// The separation metrics of the lapse-risk benchmark (bench/lib/risk_metrics.ts).
import assert from "node:assert/strict";
import {
  expectedCalibrationError,
  fitPlatt,
  rocAuc,
  topLift,
} from "../../bench/lib/risk_metrics.ts";

/** A seeded generator of numbers in [0, 1) (mulberry32), so the "random" cases repeat. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The AUC by its definition: every positive against every negative, a tie counting half. */
function pairwiseAuc(scores: number[], labels: boolean[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!labels[i]) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j]) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

Deno.test("AUC: perfect, reversed, random and tied scores", () => {
  const labels = [false, false, true, true];
  assert.equal(rocAuc([1, 2, 3, 4], labels), 1, "every positive above every negative");
  assert.equal(rocAuc([4, 3, 2, 1], labels), 0, "every positive below every negative");
  assert.equal(rocAuc([7, 7, 7, 7], labels), 0.5, "all tied: no information");
  // Positives 2 and 3 against negatives 1 and 2: 1 + 0.5 + 1 + 1 over 4 pairs.
  assert.equal(rocAuc([1, 2, 2, 3], [false, true, false, true]), 0.875);
  // The order of the input does not matter, tied or not.
  assert.equal(rocAuc([3, 2, 1, 2], [true, false, false, true]), 0.875);

  const random = seeded(7);
  const n = 20_000;
  const scores = Array.from({ length: n }, () => random());
  const coin = Array.from({ length: n }, () => random() < 0.3);
  const auc = rocAuc(scores, coin);
  assert.ok(Math.abs(auc - 0.5) < 0.02, `scores unrelated to the outcome: ${auc}, about 0.5`);

  // Integer scores 0-10 (many ties) with a real signal: equal to the pairwise definition.
  const tiedScores = Array.from({ length: 600 }, () => Math.floor(random() * 11));
  const tiedLabels = tiedScores.map((s) => random() < s / 12);
  const expected = pairwiseAuc(tiedScores, tiedLabels);
  assert.ok(expected > 0.6, "the signal shows");
  assert.ok(Math.abs(rocAuc(tiedScores, tiedLabels) - expected) < 1e-12);
});

Deno.test("AUC: refuses what it cannot measure", () => {
  assert.throws(() => rocAuc([1, 2], [true, true]), /at least one positive and one negative/);
  assert.throws(() => rocAuc([1, 2], [false, false]), /at least one positive and one negative/);
  assert.throws(() => rocAuc([], []), /no cases/);
  assert.throws(() => rocAuc([1, 2, 3], [true, false]), /3 values for 2 labels/);
});

Deno.test("ECE: the gap between predicted and observed, weighted by bin", () => {
  // Four cases at 25 %, one positive: calibrated.
  assert.equal(expectedCalibrationError([0.25, 0.25, 0.25, 0.25], [true, false, false, false]), 0);
  // Bin [0.9, 1]: predicted 0.9, observed 0.5 (2 cases); bin [0.1, 0.2): 0.1 against 0 (2 cases).
  const ece = expectedCalibrationError([0.9, 0.9, 0.1, 0.1], [true, false, false, false]);
  assert.ok(Math.abs(ece - (2 * 0.4 + 2 * 0.1) / 4) < 1e-12, `${ece}`);
  // A probability of exactly 1 falls in the last bin, not an eleventh.
  assert.equal(expectedCalibrationError([1, 1], [true, true]), 0);
  assert.ok(Math.abs(expectedCalibrationError([1, 0.95], [true, false]) - 0.475) < 1e-12);
  // Always 100 % where half happen: off by a half.
  assert.equal(expectedCalibrationError([1, 1, 1, 1], [true, false, true, false]), 0.5);
  // Well calibrated on many random cases: small.
  const random = seeded(11);
  const p = Array.from({ length: 50_000 }, () => random());
  const y = p.map((q) => random() < q);
  assert.ok(expectedCalibrationError(p, y) < 0.01);
  assert.ok(expectedCalibrationError(p.map((q) => q / 2), y) > 0.2, "halved: off by a lot");
  assert.throws(() => expectedCalibrationError([1.2], [true]), /outside \[0, 1\]/);
  assert.throws(() => expectedCalibrationError([Number.NaN], [true]), /outside \[0, 1\]/);
});

Deno.test("lift: the top decile's rate over the base rate, ties shared at the cut", () => {
  // 100 cases, the 10 positives scored highest: the top decile is all positives, 10x the base.
  const scores = Array.from({ length: 100 }, (_, i) => i);
  const top = scores.map((s) => s >= 90);
  assert.equal(topLift(scores, top), 10);
  assert.equal(topLift(scores.map((s) => -s), top), 0, "reversed: no positive at the top");
  assert.equal(topLift(scores.map(() => 5), top), 1, "all tied: the base rate");
  // 10 cases, room for 1; two tied at the top, one positive: half a positive expected.
  const tied = [9, 9, 1, 1, 1, 1, 1, 1, 1, 1];
  const labels = [true, false, false, false, false, false, false, false, false, false];
  assert.equal(topLift(tied, labels), 5);
  assert.equal(topLift([...tied].reverse(), [...labels].reverse()), 5, "whatever the order");
  // Half of 8 cases: the two 9s (one positive) and 2 of the six tied 1s, which hold two
  // positives: 1 + 2 * 2 / 6 positives expected in 4 places, against 3 in 8.
  const half = topLift([9, 9, 1, 1, 1, 1, 1, 1], [
    true,
    false,
    true,
    true,
    false,
    false,
    false,
    false,
  ], 0.5);
  assert.ok(Math.abs(half - ((1 + 2 / 3) / 4) / (3 / 8)) < 1e-12, `${half}`);
  const random = seeded(3);
  const noise = Array.from({ length: 20_000 }, () => random());
  const outcome = noise.map(() => random() < 0.2);
  assert.ok(Math.abs(topLift(noise, outcome) - 1) < 0.1, "unrelated scores: about 1");
  assert.throws(() => topLift([1, 2], [false, false]), /at least one positive/);
  assert.throws(() => topLift([1, 2], [true, false], 0), /outside \(0, 1\]/);
});

Deno.test("Platt calibration: recovers a logistic model, refuses a perfect separation", () => {
  const random = seeded(5);
  // Scores 0-100, true probability 1 / (1 + exp(-(-4 + 0.06 s))).
  const scores = Array.from({ length: 40_000 }, () => Math.floor(random() * 101));
  const labels = scores.map((s) => random() < 1 / (1 + Math.exp(-(-4 + 0.06 * s))));
  const platt = fitPlatt(scores, labels);
  assert.ok(Math.abs(platt.a - -4) < 0.15, `intercept ${platt.a}`);
  assert.ok(Math.abs(platt.b - 0.06) < 0.003, `slope ${platt.b}`);
  assert.ok(Math.abs(platt.probability(50) - 1 / (1 + Math.exp(-(-4 + 3)))) < 0.02);
  const calibrated = scores.map((s) => platt.probability(s));
  assert.ok(expectedCalibrationError(calibrated, labels) < 0.01, "calibrated on its own data");
  assert.ok(expectedCalibrationError(scores.map((s) => s / 100), labels) > 0.05, "raw: not");

  assert.throws(() => fitPlatt([1, 2, 3, 4], [false, false, true, true]), /did not converge/);
  assert.throws(() => fitPlatt([1, 2], [true, true]), /both outcomes/);
});
