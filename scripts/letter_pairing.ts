/**
 * Which letter became which: the one-to-one pairing of letters that best
 * explains a translation's answers, so that a run that learned *a* relation
 * (each plain letter always drawn as one script letter) can be told from one
 * that learned *the* relation (each drawn as its own letter).
 *
 * An unpaired objective cannot tell one pairing of the letters from another:
 * any one-to-one pairing meets the adversarial and cycle terms. Top-1 accuracy
 * counts only the right pairing; {@link bestPairing}'s accuracy counts the
 * pairing the networks chose, whatever it is. The gap between the two is what
 * the wrong pairing cost, and what the best pairing misses is what neither
 * pairing explains: a letter drawn as several letters, or several letters as
 * one.
 * @module
 */
import munkres from "munkres";

/** The best one-to-one pairing of letters for a set of answers. */
export interface LetterPairing {
  /** Share of the answers that this pairing counts right (≥ top-1 accuracy). */
  readonly accuracy: number;
  /**
   * The letters this pairing sends to another letter, e.g. `{ n: "r" }`: the
   * pairing that agrees with the most answers puts n with r. Empty when that
   * pairing is each letter with itself.
   */
  readonly swapped: Readonly<Record<string, string>>;
  /** How many distinct letters the answers use (of `letters.length`). */
  readonly lettersUsed: number;
}

/**
 * The table of answer counts: `counts[i][j]` is how many inputs of
 * `letters[i]` were read as `letters[j]`.
 *
 * @param truth the letter of each input
 * @param predicted the letter each output was read as (same order)
 * @param letters the alphabet both are drawn from, in the table's order
 * @throws {RangeError} when the two lists differ in length or use a letter
 * outside `letters`
 *
 * @example
 * ```ts
 * import { answerCounts } from "./letter_pairing.ts";
 * console.log(answerCounts(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])); // [[1, 1], [0, 1]]
 * ```
 */
export function answerCounts(
  truth: readonly string[],
  predicted: readonly string[],
  letters: readonly string[],
): number[][] {
  if (truth.length !== predicted.length) {
    throw new RangeError(`${truth.length} letters but ${predicted.length} answers`);
  }
  const index = new Map(letters.map((c, i) => [c, i]));
  const counts = letters.map(() => new Array<number>(letters.length).fill(0));
  truth.forEach((c, k) => {
    const row = index.get(c), column = index.get(predicted[k]);
    if (row === undefined || column === undefined) {
      throw new RangeError(`"${c}" -> "${predicted[k]}": not in "${letters.join("")}"`);
    }
    counts[row][column]++;
  });
  return counts;
}

/**
 * The one-to-one pairing of `letters` with themselves that agrees with the
 * most answers (the Hungarian algorithm on the table of answer counts). Where
 * several pairings agree with as many, the one that keeps the most letters on
 * their own is taken, so a tie never shows as a swap.
 *
 * @param truth the letter of each input
 * @param predicted the letter each output was read as (same order)
 * @param letters the alphabet both are drawn from
 * @throws {RangeError} when the two lists differ in length or use a letter
 * outside `letters`
 *
 * @example
 * ```ts
 * import { bestPairing } from "./letter_pairing.ts";
 * // n always came out as r and r as n: a consistent relation, but swapped.
 * const p = bestPairing(["a", "n", "n", "r"], ["a", "r", "r", "n"], ["a", "n", "r"]);
 * console.log(p.accuracy, p.swapped); // 1 { n: "r", r: "n" }
 * ```
 */
export function bestPairing(
  truth: readonly string[],
  predicted: readonly string[],
  letters: readonly string[],
): LetterPairing {
  const counts = answerCounts(truth, predicted, letters);
  const n = letters.length;
  // Cost: minus the answers a pairing agrees with, weighted so that one more
  // agreeing answer outweighs every letter kept on its own (at most n), which
  // then decides between pairings that agree with as many answers.
  const cost = counts.map((row, i) =>
    row.map((count, j) => -(count * (n + 1) + (i === j ? 1 : 0)))
  );
  let agreeing = 0;
  const swapped: Record<string, string> = {};
  for (const [i, j] of munkres(cost)) {
    agreeing += counts[i][j];
    if (i !== j) swapped[letters[i]] = letters[j];
  }
  return {
    accuracy: truth.length ? agreeing / truth.length : 0,
    swapped,
    lettersUsed: new Set(predicted).size,
  };
}
