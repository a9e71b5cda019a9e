import assert from "node:assert/strict";
import { bestPairing } from "../scripts/letter_pairing.ts";

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
