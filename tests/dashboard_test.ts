// The live dashboard (pipeline/dashboard.ts) in Chromium during a tiny run: the
// run page gains points as iterations complete and shows each new grid, and the
// index lists the run. Paths outside the runs are 404s. A dashboard whose client
// goes away or whose port is taken leaves the run's losses and checkpoints as
// they are without it.
import { tinyDataset } from "./tiny_data.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors } from "../ops/formats/safetensors.ts";
import { startDashboard } from "../pipeline/dashboard.ts";
import { listCheckpoints } from "../pipeline/checkpoint.ts";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import type { TrainOptions } from "../pipeline/options.ts";
import { launchChromium } from "./browser.ts";
import { missing } from "./native.ts";

const noChromium = await missing("chromium", "the live dashboard test in tests/dashboard_test.ts");

const data = await tinyDataset(8);
const base: Partial<TrainOptions> = {
  dataA: data.trainA,
  dataB: data.trainB,
  ngf: 4,
  ndf: 4,
  batchSize: 2,
  backend: "cpu",
  seed: 3,
};

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test({
  name: "the live dashboard gains points and grids during a run, and lists it",
  ignore: noChromium,
}, async () => {
  const port = freePort();
  const runDir = join(await Deno.makeTempDir(), "live-run");
  const logs: string[] = [];
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(String(e)));
    let seen = { points: 0, grids: 0 };
    // Opens the page once the server is up, then watches it while the run goes on.
    const watch = (async () => {
      const url = `http://127.0.0.1:${port}/run/live-run/`;
      for (let i = 0; i < 200 && !logs.some((m) => m.startsWith("dashboard: http")); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await page.goto(url);
      const first = Number(await page.getAttribute("#chart-d", "data-points"));
      // Page-side expressions (strings: Deno's types have no DOM).
      await page.waitForFunction(
        `Number(document.querySelector("#chart-d").dataset.points) > ${first + 2}`,
        null,
        { timeout: 60_000 },
      );
      await page.waitForFunction(`document.querySelectorAll("#grid img").length >= 2`, null, {
        timeout: 60_000,
      });
      seen = {
        points: Number(await page.getAttribute("#chart-d", "data-points")),
        grids: await page.locator("#grid img").count(),
      };
      // The README's screenshot: DASHBOARD_SCREENSHOT=docs/dashboard.png deno test -A tests/dashboard_test.ts
      const shot = Deno.env.get("DASHBOARD_SCREENSHOT");
      if (shot) {
        await page.setViewportSize({ width: 1200, height: 1000 });
        await page.screenshot({ path: shot });
      }
      const index = await browser.newPage();
      await index.goto(`http://127.0.0.1:${port}/`);
      assert.match(await index.textContent("#runs") ?? "", /live-run\s*running/);
    })();
    const result = await train({
      ...base,
      iterations: 40,
      sampleEvery: 5,
      dashboard: port,
      runDir,
    }, { quiet: true, log: (m) => logs.push(m) });
    disposeTrainResult(result);
    await watch;
    assert.ok(seen.points > 3, `the page gained points: ${seen.points}`);
    assert.ok(seen.grids >= 2, `the page showed new grids: ${seen.grids}`);
    // The newest grid the page shows loads from the server.
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

Deno.test("the dashboard serves nothing outside its runs", async () => {
  const runs = await Deno.makeTempDir();
  const run = join(runs, "r1");
  disposeTrainResult(
    await train({ ...base, iterations: 2, sampleEvery: 2, runDir: run }, {
      quiet: true,
      log: () => {},
    }),
  );
  await Deno.writeTextFile(join(runs, "secret.txt"), "not for the web");
  await Deno.symlink("/etc/passwd", join(run, "samples", "iter_9999999.png"));
  const dashboard = await startDashboard(runs, { port: 0 });
  try {
    const get = (path: string) =>
      fetch(new URL(path, dashboard.url)).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      });
    assert.equal(await get("/run/r1/samples/iter_0000002.png"), 200);
    assert.equal(await get("/api/runs"), 200);
    for (
      const path of [
        "/run/r1/../../secret.txt",
        "/run/%2e%2e/secret.txt",
        "/run/r1/samples/..%2f..%2fsecret.txt",
        "/run/r1/samples/%2e%2e%2foptions.json",
        "/run/r1/samples/%2Fetc%2Fpasswd",
        "/run/r1/options.json",
        "/run/r1/metrics.jsonl",
        "/run/r1/samples/iter_9999999.png", // a link out of samples/
        "/secret.txt",
        "/run/secret.txt/",
      ]
    ) {
      assert.equal(await get(path), 404, path);
    }
    // Raw paths the URL parser would not normalise.
    for (
      const raw of [
        "/run/r1/samples/../../secret.txt",
        "/run/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
      ]
    ) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: new URL(dashboard.url).port as unknown as number,
      });
      await conn.write(
        new TextEncoder().encode(`GET ${raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      const reply = new TextDecoder().decode(
        (await new Response(conn.readable).arrayBuffer()) as ArrayBuffer,
      );
      assert.match(reply, /^HTTP\/1\.1 404/, raw);
    }
  } finally {
    await dashboard.close();
  }
});

Deno.test("a dashboard whose client leaves, or whose port is taken, changes nothing in the run", async () => {
  const tmp = await Deno.makeTempDir();
  const options = { ...base, iterations: 6, sampleEvery: 3, checkpointEvery: 6 };
  const quiet = { quiet: true, log: () => {} };
  disposeTrainResult(await train({ ...options, runDir: join(tmp, "plain") }, quiet));

  // A client that connects to the event stream and drops it after the first bytes.
  const port = freePort();
  const leaving = (async () => {
    for (let i = 0; i < 100; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/run/left/events`);
        const reader = r.body!.getReader();
        await reader.read();
        await reader.cancel();
        return true;
      } catch {
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    return false;
  })();
  disposeTrainResult(
    await train({ ...options, dashboard: port, runDir: join(tmp, "left") }, quiet),
  );
  assert.ok(await leaving, "the client connected");

  // The port is taken by another listener: the run says so and goes on.
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const logs: string[] = [];
  disposeTrainResult(
    await train({
      ...options,
      dashboard: (taken.addr as Deno.NetAddr).port,
      runDir: join(tmp, "taken"),
    }, { quiet: true, log: (m) => logs.push(m) }),
  );
  taken.close();
  assert.ok(logs.some((m) => m.startsWith("dashboard: not started")), logs.join("\n"));

  const plain = await readMetrics(join(tmp, "plain", "metrics.jsonl"));
  for (const dir of ["left", "taken"]) {
    const other = await readMetrics(join(tmp, dir, "metrics.jsonl"));
    for (const key of ["d", "g", "g_cycle"]) {
      assert.deepEqual(other.map((m) => m[key]), plain.map((m) => m[key]), `${dir}: ${key}`);
    }
    const [a, b] = await Promise.all(
      ["plain", dir].map(async (d) => (await listCheckpoints(join(tmp, d, "checkpoints"))).at(-1)!),
    );
    const [ga, gb] = await Promise.all(
      [a, b].map((c) => readSafetensors(join(c, "g_ab.safetensors"))),
    );
    for (const [name, t] of ga.tensors) {
      assert.deepEqual(gb.tensors.get(name)?.data, t.data, `${dir}: ${name}`);
    }
  }
});

Deno.test("deno task dashboard follows a run another process writes, line by line and grid by grid", async () => {
  const runs = await Deno.makeTempDir();
  const run = join(runs, "other");
  disposeTrainResult(
    await train({ ...base, iterations: 2, sampleEvery: 2, runDir: run }, {
      quiet: true,
      log: () => {},
    }),
  );
  const dashboard = await startDashboard(runs, { port: 0 });
  try {
    const response = await fetch(new URL("/run/other/events", dashboard.url));
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = "";
    const until = async (pattern: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(received) && Date.now() < deadline) {
        const { value, done } = await Promise.race([
          reader.read(),
          new Promise<{ value: string; done: boolean }>((r) =>
            setTimeout(() => r({ value: "", done: false }), 500)
          ),
        ]);
        if (done) break;
        received += value;
      }
      return pattern.test(received);
    };
    assert.ok(await until(/: connected/), "the stream opens");
    // What a training process does: append a metrics line, write a grid.
    const line = { iteration: 3, epoch: 0, d: 0.5, g: 2.5, sec_per_iter: 0.1 };
    await Deno.writeTextFile(join(run, "metrics.jsonl"), JSON.stringify(line) + "\n", {
      append: true,
    });
    assert.ok(await until(/event: record\ndata: \{"iteration":3,/), received);
    await Deno.copyFile(
      join(run, "samples", "iter_0000002.png"),
      join(run, "samples", "iter_0000004.png"),
    );
    assert.ok(await until(/event: sample\ndata: \{"iteration":4,/), received);
    await reader.cancel();
    const index = await (await fetch(new URL("/api/runs", dashboard.url))).json();
    assert.equal(index[0].name, "other");
    assert.equal(index[0].iteration, 3);
    assert.equal(index[0].state, "finished", "asked for 2 iterations, at 3, no live process");
  } finally {
    await dashboard.close();
  }
});
