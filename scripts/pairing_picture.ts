/**
 * A picture of which letter became which: the table of answer counts (rows:
 * the input letters, columns: the letters read), each cell darker the more
 * answers it holds, with the letters' own templates as the row and column
 * heads. The right answers lie on the diagonal (framed green); the cells of the
 * best one-to-one pairing that leave the diagonal (scripts/letter_pairing.ts)
 * are framed red, so a consistent but wrong pairing shows as dark red-framed
 * cells off the diagonal, and a collapse as a dark column.
 * @module
 */
import sharp from "../pipeline/sharp.ts";
import { answerCounts, type LetterPairing } from "./letter_pairing.ts";

/** A letter's template: `size`×`size` RGB bytes, white background. */
export interface LetterTile {
  /** Side in pixels. */
  readonly size: number;
  /** RGB bytes, row-major, `size * size * 3` of them. */
  readonly pixels: Uint8Array;
}

/** Side of one cell of the picture, in pixels. */
const CELL = 24;
const GREEN = [0, 150, 0], RED = [220, 0, 0];

/**
 * The picture's RGB bytes and size, for `letters.length + 1` cells a side.
 *
 * @param truth the letter of each input
 * @param predicted the letter each output was read as (same order)
 * @param letters the alphabet, in the order of rows and columns
 * @param pairing the best one-to-one pairing of these answers
 * @param rowHeads the input domain's template of each letter
 * @param columnHeads the read domain's template of each letter
 *
 * @example
 * ```ts
 * import { pairingPicture } from "./pairing_picture.ts";
 * import { bestPairing } from "./letter_pairing.ts";
 * const tile = { size: 2, pixels: new Uint8Array(12).fill(255) };
 * const heads = new Map([["a", tile], ["b", tile]]);
 * const truth = ["a", "b"], read = ["b", "a"];
 * const pairing = bestPairing(truth, read, ["a", "b"]);
 * const picture = pairingPicture(truth, read, ["a", "b"], pairing, heads, heads);
 * console.log(picture.width, picture.height); // 72 72
 * ```
 */
export function pairingPicture(
  truth: readonly string[],
  predicted: readonly string[],
  letters: readonly string[],
  pairing: LetterPairing,
  rowHeads: ReadonlyMap<string, LetterTile>,
  columnHeads: ReadonlyMap<string, LetterTile>,
): { width: number; height: number; rgb: Uint8Array } {
  const n = letters.length, side = (n + 1) * CELL;
  const rgb = new Uint8Array(side * side * 3).fill(255);
  const counts = answerCounts(truth, predicted, letters);
  const perRow = counts.map((row) => row.reduce((sum, count) => sum + count, 0));
  const fill = (x0: number, y0: number, colour: readonly number[]) => {
    for (let y = y0; y < y0 + CELL; y++) {
      for (let x = x0; x < x0 + CELL; x++) rgb.set(colour, (y * side + x) * 3);
    }
  };
  const frame = (x0: number, y0: number, colour: readonly number[], thickness: number) => {
    for (let y = y0; y < y0 + CELL; y++) {
      for (let x = x0; x < x0 + CELL; x++) {
        const edge = Math.min(x - x0, y - y0, x0 + CELL - 1 - x, y0 + CELL - 1 - y);
        if (edge < thickness) rgb.set(colour, (y * side + x) * 3);
      }
    }
  };
  // A template scaled to one cell by its nearest pixels.
  const head = (tile: LetterTile | undefined, x0: number, y0: number) => {
    if (!tile) return;
    for (let y = 0; y < CELL; y++) {
      for (let x = 0; x < CELL; x++) {
        const sx = Math.floor((x + 0.5) * tile.size / CELL);
        const sy = Math.floor((y + 0.5) * tile.size / CELL);
        const from = (sy * tile.size + sx) * 3;
        rgb.set(tile.pixels.subarray(from, from + 3), ((y0 + y) * side + x0 + x) * 3);
      }
    }
  };
  const paired = new Map(letters.map((c) => [c, pairing.swapped[c] ?? c]));
  letters.forEach((c, i) => {
    head(rowHeads.get(c), 0, (i + 1) * CELL);
    head(columnHeads.get(c), (i + 1) * CELL, 0);
    for (let j = 0; j < n; j++) {
      const x0 = (j + 1) * CELL, y0 = (i + 1) * CELL;
      const grey = Math.round(255 * (1 - (perRow[i] ? counts[i][j] / perRow[i] : 0)));
      fill(x0, y0, [grey, grey, grey]);
      if (i === j) frame(x0, y0, GREEN, 2);
      else if (paired.get(c) === letters[j]) frame(x0, y0, RED, 2);
    }
  });
  return { width: side, height: side, rgb };
}

/**
 * {@link pairingPicture}, written as a PNG to `path`.
 *
 * @example
 * ```ts
 * import { writePairingPicture } from "./pairing_picture.ts";
 * import { bestPairing } from "./letter_pairing.ts";
 * const tile = { size: 2, pixels: new Uint8Array(12).fill(255) };
 * const heads = new Map([["a", tile], ["b", tile]]);
 * const pairing = bestPairing(["a", "b"], ["a", "a"], ["a", "b"]);
 * const path = await Deno.makeTempFile({ suffix: ".png" });
 * await writePairingPicture(path, ["a", "b"], ["a", "a"], ["a", "b"], pairing, heads, heads);
 * ```
 */
export async function writePairingPicture(
  path: string,
  ...args: Parameters<typeof pairingPicture>
): Promise<void> {
  const { width, height, rgb } = pairingPicture(...args);
  await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toFile(path);
}
