import assert from "node:assert/strict";
import { bestPairing } from "../scripts/letter_pairing.ts";
import { pairingPicture } from "../scripts/pairing_picture.ts";

const ABC = ["a", "b", "c"];

Deno.test("bestPairing finds a consistent relation with the wrong letters", () => {
  // a and b always swapped, c right: top-1 is 2 of 6, the pairing explains all 6.
  const truth = ["a", "a", "b", "b", "c", "c"];
  const p = bestPairing(truth, ["b", "b", "a", "a", "c", "c"], ABC);
  assert.equal(p.accuracy, 1);
  assert.deepEqual(p.swapped, { a: "b", b: "a" });
  assert.equal(p.lettersUsed, 3);
});

Deno.test("bestPairing counts a collapse once: one letter cannot explain two", () => {
  // a and b both drawn as a: one of them can pair with a, the other pairs with
  // a letter it never became, so 4 of 6 agree (c is right).
  const truth = ["a", "a", "b", "b", "c", "c"];
  const p = bestPairing(truth, ["a", "a", "a", "a", "c", "c"], ABC);
  assert.equal(p.accuracy, 4 / 6);
  assert.equal(p.lettersUsed, 2);
  // a keeps its own letter (the tie with b -> a is broken toward a -> a), and
  // b takes the letter left over.
  assert.deepEqual(p.swapped, {});
});

Deno.test("bestPairing breaks ties toward each letter's own", () => {
  // Each of a and b half right, half the other: the identity and the swap
  // agree with as many answers; the identity is reported.
  const p = bestPairing(["a", "a", "b", "b"], ["a", "b", "b", "a"], ["a", "b"]);
  assert.equal(p.accuracy, 0.5);
  assert.deepEqual(p.swapped, {});
});

Deno.test("bestPairing refuses answers it cannot place", () => {
  assert.throws(() => bestPairing(["a"], ["a", "b"], ABC), /1 letters but 2 answers/);
  assert.throws(() => bestPairing(["a"], ["z"], ABC), /"a" -> "z": not in "abc"/);
});

// The picture of the same table: a swap's cells dark and framed red, the empty
// diagonal framed green, the heads drawn from the templates given.
Deno.test("pairingPicture shades the answer counts and frames the pairing", () => {
  const black = { size: 4, pixels: new Uint8Array(48) }; // an all-ink template
  const heads = new Map([["a", black], ["b", black]]);
  const truth = ["a", "a", "b", "b"], read = ["b", "b", "a", "b"];
  const pairing = bestPairing(truth, read, ["a", "b"]);
  assert.deepEqual(pairing.swapped, { a: "b", b: "a" }); // 3 of 4 against the diagonal's 1
  const { width, height, rgb } = pairingPicture(truth, read, ["a", "b"], pairing, heads, heads);
  assert.equal(width, 72);
  assert.equal(height, 72);
  const at = (
    x: number,
    y: number,
  ) => [...rgb.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)];
  const cell = (row: number, column: number) => [24 * (column + 1), 24 * (row + 1)];
  const middle = ([x, y]: number[]) => at(x + 12, y + 12), edge = ([x, y]: number[]) => at(x, y);
  assert.deepEqual(middle(cell(0, 1)), [0, 0, 0]); // a read as b: both answers
  assert.deepEqual(edge(cell(0, 1)), [220, 0, 0]); // the pairing's a -> b
  assert.deepEqual(middle(cell(0, 0)), [255, 255, 255]); // a never read as a
  assert.deepEqual(edge(cell(0, 0)), [0, 150, 0]); // the diagonal
  assert.deepEqual(middle(cell(1, 0)), [128, 128, 128]); // b read as a: one of two
  assert.deepEqual(edge(cell(1, 0)), [220, 0, 0]); // the pairing's b -> a
  assert.deepEqual(at(12, 12), [255, 255, 255]); // the corner stays empty
  assert.deepEqual(at(12, 36), [0, 0, 0]); // a's row head: its template
});
