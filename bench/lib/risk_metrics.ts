// How well a risk score separates outcomes: ROC-AUC (ties counted half), expected calibration
// error, lift in the top decile, and a logistic (Platt) calibration of a score. Pure functions
// over arrays, for bench/risk.ts; `labels[i]` is true when case i had the outcome (lapsed).

/** Throws unless `values` and `labels` have the same, non-zero length. */
function checkPairs(values: ArrayLike<number>, labels: ArrayLike<boolean>): void {
  if (values.length !== labels.length) {
    throw new RangeError(`${values.length} values for ${labels.length} labels`);
  }
  if (values.length === 0) throw new RangeError("no cases");
}

/**
 * The area under the ROC curve of `scores` (higher = more likely `true`): the probability that a
 * random positive case scores above a random negative one, a tie counting one half (the
 * Mann-Whitney statistic with mid-ranks). 1 separates perfectly, 0.5 is chance, 0 is reversed.
 * Throws a RangeError without at least one positive and one negative case.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<boolean>): number {
  checkPairs(scores, labels);
  const order = Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  // Ranks 1..n; a run of equal scores shares the mean of its ranks.
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]] === scores[order[start]]) end++;
    const midRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) {
      if (labels[order[k]]) {
        positives++;
        rankSum += midRank;
      }
    }
    start = end + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new RangeError("the AUC needs at least one positive and one negative case");
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * The expected calibration error of `probabilities` (each in [0, 1]): cases put in `bins`
 * equal-width bins of the predicted probability ([0, 0.1), ..., [0.9, 1] for 10), then the mean
 * over cases of |mean predicted - observed rate| of their bin. 0 is perfectly calibrated.
 * Throws a RangeError for a probability outside [0, 1] or no cases.
 */
export function expectedCalibrationError(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<boolean>,
  bins = 10,
): number {
  checkPairs(probabilities, labels);
  const count = new Array<number>(bins).fill(0);
  const predicted = new Array<number>(bins).fill(0);
  const observed = new Array<number>(bins).fill(0);
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i];
    if (!(p >= 0 && p <= 1)) throw new RangeError(`probability ${p} outside [0, 1]`);
    const bin = Math.min(bins - 1, Math.floor(p * bins));
    count[bin]++;
    predicted[bin] += p;
    if (labels[i]) observed[bin]++;
  }
  let error = 0;
  for (let bin = 0; bin < bins; bin++) {
    if (count[bin] > 0) error += Math.abs(predicted[bin] - observed[bin]);
  }
  return error / probabilities.length;
}

/**
 * Lift in the top `fraction` (0.1: the top decile) of cases by `scores`: the positive rate among
 * them over the positive rate of all. Cases tied at the cut count in proportion to the room left
 * (the expected value over every order of the ties), so the answer does not depend on how ties
 * happen to be sorted. 1 is no better than chance. Throws a RangeError without positives or for
 * a fraction outside (0, 1].
 */
export function topLift(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean>,
  fraction = 0.1,
): number {
  checkPairs(scores, labels);
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`fraction ${fraction} outside (0, 1]`);
  const order = Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b] - scores[a]);
  let allPositives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) allPositives++;
  if (allPositives === 0) throw new RangeError("the lift needs at least one positive case");
  const room = fraction * order.length;
  let taken = 0;
  let positivesTaken = 0;
  for (let start = 0; start < order.length && taken < room;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]] === scores[order[start]]) end++;
    const size = end - start + 1;
    let positives = 0;
    for (let k = start; k <= end; k++) if (labels[order[k]]) positives++;
    const share = Math.min(1, (room - taken) / size);
    taken += share * size;
    positivesTaken += share * positives;
    start = end + 1;
  }
  return (positivesTaken / room) / (allPositives / order.length);
}

/** A logistic calibration of a score: probability = 1 / (1 + exp(-(a + b * score))). */
export interface Platt {
  a: number;
  b: number;
  /** The calibrated probability of `score`. */
  probability(score: number): number;
}

/**
 * Fits a Platt calibration (a logistic regression of the label on the score, by Newton's
 * method) on `scores` and `labels`; apply it to other cases with `probability`. Throws a
 * RangeError without both outcomes, or if it does not converge in 100 steps (a score that
 * separates perfectly has no finite fit).
 */
export function fitPlatt(scores: ArrayLike<number>, labels: ArrayLike<boolean>): Platt {
  checkPairs(scores, labels);
  const n = scores.length;
  // Centred and scaled, so that Newton's steps are well conditioned; mapped back at the end.
  let mean = 0;
  for (let i = 0; i < n; i++) mean += scores[i];
  mean /= n;
  let spread = 0;
  for (let i = 0; i < n; i++) spread += (scores[i] - mean) ** 2;
  spread = Math.sqrt(spread / n) || 1;
  let positives = 0;
  for (let i = 0; i < n; i++) if (labels[i]) positives++;
  if (positives === 0 || positives === n) {
    throw new RangeError("a calibration needs both outcomes");
  }
  let a = Math.log(positives / (n - positives));
  let b = 0;
  for (let step = 0; step < 100; step++) {
    let ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    for (let i = 0; i < n; i++) {
      const x = (scores[i] - mean) / spread;
      const p = 1 / (1 + Math.exp(-(a + b * x)));
      const residual = (labels[i] ? 1 : 0) - p;
      const w = p * (1 - p);
      ga += residual;
      gb += residual * x;
      haa += w;
      hab += w * x;
      hbb += w * x * x;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a += da;
    b += db;
    if (Math.abs(da) < 1e-10 && Math.abs(db) < 1e-10) {
      const slope = b / spread;
      const intercept = a - slope * mean;
      return {
        a: intercept,
        b: slope,
        probability: (score) => 1 / (1 + Math.exp(-(intercept + slope * score))),
      };
    }
  }
  throw new RangeError("the calibration did not converge (does the score separate perfectly?)");
}
