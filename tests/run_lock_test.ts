// One writer per run directory: a second writer is refused with the holder's
// process named, and a lock left by a killed process is taken over.
import { tinyDataset } from "./tiny_data.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { lockRunDir, RunDirBusyError } from "../pipeline/run_lock.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";

const LOCK_MODULE = new URL("../pipeline/run_lock.ts", import.meta.url).href;

Deno.test("a run directory's lock is exclusive, and free again once released", async () => {
  const root = await Deno.makeTempDir();
  const lock = await lockRunDir(root);
  await assert.rejects(
    lockRunDir(root),
    (e) => e instanceof RunDirBusyError && e.message.includes(`process ${Deno.pid} `),
  );
  lock.release();
  lock.release(); // idempotent
  const again = await lockRunDir(root);
  assert.equal(again.takenOverFrom, undefined, "a released lock is not a dead holder's");
  again.release();
});

Deno.test("train --resume on a directory another process writes is refused; after a kill it is taken over", async () => {
  const data = await tinyDataset(8);
  const runDir = join(await Deno.makeTempDir(), "run");
  const quiet = { quiet: true, log: () => {} };
  disposeTrainResult(
    await train({
      dataA: data.trainA,
      dataB: data.trainB,
      ngf: 4,
      ndf: 4,
      batchSize: 2,
      iterations: 1,
      backend: "cpu",
      sampleEvery: 0,
      runDir,
    }, quiet),
  );

  // Another process takes the lock and keeps it.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const { lockRunDir } = await import("${LOCK_MODULE}");` +
      `await lockRunDir(${JSON.stringify(runDir)}); console.log("locked");` +
      `await new Promise((r) => setTimeout(r, 60_000));`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /locked/);

  const logs: string[] = [];
  await assert.rejects(
    train({ iterations: 2 }, { quiet: true, log: (m) => logs.push(m), resume: runDir }),
    (e) => e instanceof RunDirBusyError && e.message.includes(`process ${child.pid} `),
  );

  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  const resumed = await train({ iterations: 2 }, {
    quiet: true,
    log: (m) => logs.push(m),
    resume: runDir,
  });
  assert.equal(resumed.state.iteration, 2);
  disposeTrainResult(resumed);
  assert.ok(
    logs.some((m) => m.includes(`process ${child.pid} `) && m.includes("taking over")),
    logs.join("\n"),
  );
});
