import assert from "node:assert/strict";
import { mapPool, settleAll } from "../pipeline/settle_all.ts";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("settleAll rejects with the first failure only after every promise settled", async () => {
  let slowDone = false;
  const slow = tick(30).then(() => {
    slowDone = true;
    return 1;
  });
  await assert.rejects(
    settleAll([Promise.reject(new Error("first")), slow, Promise.reject(new Error("second"))]),
    /first/,
  );
  assert.equal(slowDone, true);
  assert.deepEqual(await settleAll([Promise.resolve(1), tick(5).then(() => 2)]), [1, 2]);
});

Deno.test("mapPool keeps the items' order and never runs more than `concurrency` at once", async () => {
  let running = 0, most = 0;
  const out = await mapPool([30, 5, 20, 1, 10], 2, async (ms, i) => {
    most = Math.max(most, ++running);
    await tick(ms);
    running--;
    return `${i}:${ms}`;
  });
  assert.deepEqual(out, ["0:30", "1:5", "2:20", "3:1", "4:10"]);
  assert.equal(most, 2);
  assert.deepEqual(await mapPool([], 4, () => Promise.resolve(1)), []);
});

Deno.test("mapPool starts nothing after a failure and rejects once the running calls ended", async () => {
  const started: number[] = [];
  let slowEnded = false;
  await assert.rejects(
    mapPool([0, 1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      if (n === 0) throw new Error("item 0 is bad");
      await tick(30);
      if (n === 1) slowEnded = true;
      return n;
    }),
    /item 0 is bad/,
  );
  assert.deepEqual(started, [0, 1]);
  assert.equal(slowEnded, true);
});
