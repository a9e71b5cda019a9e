// The run report (pipeline/report.ts) in a real browser: Chromium (Debian's
// package) driven by playwright-core, headless. A tiny run's report.html opens
// from disk, its charts hold as many points as metrics.jsonl has lines, every
// sample grid loads, and the page logs no error.
import { tinyDataset } from "./tiny_data.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import { launchChromium } from "./browser.ts";
import { missing } from "./native.ts";

const noChromium = await missing("chromium", "tests/report_test.ts");

Deno.test({
  name: "a run's report.html shows every metrics line and every grid in Chromium, with no error",
  ignore: noChromium,
}, async () => {
  const data = await tinyDataset(8);
  const runDir = join(await Deno.makeTempDir(), "run");
  disposeTrainResult(
    await train({
      dataA: data.trainA,
      dataB: data.trainB,
      ngf: 4,
      ndf: 4,
      batchSize: 2,
      iterations: 6,
      sampleEvery: 2,
      checkpointEvery: 3,
      backend: "cpu",
      runDir,
    }, { quiet: true, log: () => {} }),
  );
  const lines = (await readMetrics(join(runDir, "metrics.jsonl"))).length;
  assert.equal(lines, 6);

  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push(String(e)));
    page.on("request", (r) => {
      if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) problems.push(r.url());
    });
    await page.goto(`file://${join(runDir, "report.html")}`);
    for (const id of ["chart-d", "chart-g", "chart-speed", "chart-images"]) {
      assert.equal(await page.getAttribute(`#${id}`, "data-points"), String(lines), id);
      assert.equal(await page.locator(`#${id} canvas`).count(), 1, `${id} is drawn`);
    }
    // Grids at 2, 4 and 6, newest first; each decoded by the browser.
    const grids = await page.$$eval("#grid img", (imgs) =>
      imgs.map((i) => {
        // A browser HTMLImageElement (Deno's types have no DOM).
        const img = i as unknown as {
          dataset: Record<string, string>;
          complete: boolean;
          naturalWidth: number;
        };
        return { iteration: img.dataset.iteration, loaded: img.complete && img.naturalWidth > 0 };
      }));
    assert.deepEqual(grids.map((g) => g.iteration), ["6", "4", "2"]);
    assert.ok(grids.every((g) => g.loaded), JSON.stringify(grids));
    // The README's screenshot: REPORT_SCREENSHOT=docs/report.png deno test -A tests/report_test.ts
    const shot = Deno.env.get("REPORT_SCREENSHOT");
    if (shot) {
      await page.setViewportSize({ width: 1200, height: 1000 });
      await page.screenshot({ path: shot });
    }
    await page.fill("#grid-slider", "2");
    await page.dispatchEvent("#grid-slider", "input");
    assert.match(await page.textContent("#grid-caption") ?? "", /^iteration 2 \(3 of 3/);
    assert.match(await page.content(), /iter_0000006/, "the checkpoints kept are listed");
    assert.match(await page.content(), /<th>backend<\/th><td>cpu<\/td>/, "the backend is named");
    assert.deepEqual(problems, [], "no console error, no request off the page");
  } finally {
    await browser.close();
  }
});
