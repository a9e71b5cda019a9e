// `deno task demo` in a real browser: Chromium (Debian's package) driven by
// playwright-core, headless. The page translates images as `translate` does
// (every output byte within 2/255), in both directions and for the paper and
// U-Net generators, served in-process, by the CLI and from `--out` files on
// another web server; a non-image or a model that is not a generator gets the
// page's message, and the page goes on working.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import sharp from "../pipeline/sharp.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { OnnxGraph } from "../ops/formats/onnx.ts";
import { resolveOptions } from "../models/options.ts";
import { createDiscoGan } from "../models/discogan.ts";
import { TRAIN_OPTIONS, type TrainOptions } from "../pipeline/options.ts";
import { createRunDir } from "../pipeline/run_dir.ts";
import { createTrainingState } from "../pipeline/training_state.ts";
import { saveCheckpoint } from "../pipeline/checkpoint.ts";
import { type Direction, translateFiles } from "../pipeline/translate.ts";
import { exportOnnxFile } from "../pipeline/export_onnx.ts";
import { buildDemoSite, contentType, serveDemoSite } from "../pipeline/demo.ts";
import { chromium } from "playwright-core";
import { CHROMIUM, launchChromium } from "./browser.ts";
import { missing } from "./native.ts";

const root = new URL("..", import.meta.url).pathname;
const SIZE = 64;
const noChromium = await missing("chromium", "the browser tests of tests/demo_test.ts");
await useBackend("cpu");

// A run directory with one checkpoint of freshly initialised networks.
async function makeRun(given: Partial<TrainOptions>): Promise<string> {
  const options = resolveOptions(TRAIN_OPTIONS, { imageSize: SIZE, ngf: 8, ndf: 8, ...given });
  const dir = await Deno.makeTempDir({ prefix: "demo_run_" });
  const run = await createRunDir(dir, options);
  const state = createTrainingState(createDiscoGan(options));
  await saveCheckpoint(run.checkpoints, state, { epoch: 0, nextBatch: 0 });
  return dir;
}

// Opaque RGB PNGs of noise and gradients, SIZE px, and a text file.
const files = await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "demo_images_" });
  const images: string[] = [];
  for (let k = 0; k < 2; k++) {
    const pixels = new Uint8Array(SIZE * SIZE * 3);
    for (let i = 0; i < pixels.length; i++) {
      pixels[i] = (i * 7 + k * 50 + ((i * 2654435761) >>> 24)) & 255;
    }
    const path = join(dir, `image_${k}.png`);
    await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path);
    images.push(path);
  }
  const wide = join(dir, "wide.png");
  await sharp({ create: { width: 100, height: 80, channels: 3, background: "#3a7" } }).png()
    .toFile(wide);
  const text = join(dir, "notes.txt");
  await Deno.writeTextFile(text, "not an image\n");
  const badModel = join(dir, "random.onnx");
  await Deno.writeFile(badModel, crypto.getRandomValues(new Uint8Array(4096)));
  // A well-formed ONNX model that is no image generator: one channel in, one out.
  const graph = new OnnxGraph("not_a_generator");
  graph.node("Identity", ["image"], {}, "translated");
  const dims = ["batch", 1, SIZE, SIZE];
  const grey = join(dir, "grey.onnx");
  await Deno.writeFile(
    grey,
    graph.encode({ inputs: [{ name: "image", dims }], outputs: [{ name: "translated", dims }] }),
  );
  return { dir, images, wide, text, badModel, grey };
})();

// What `translate` writes for each test image, as RGB bytes by file name.
async function reference(run: string, direction: Direction): Promise<Map<string, Uint8Array>> {
  const out = await Deno.makeTempDir({ prefix: "demo_translated_" });
  const written = await translateFiles(run, direction, files.images, out);
  const bytes = new Map<string, Uint8Array>();
  for (const [i, path] of written.entries()) {
    const { data } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    bytes.set(files.images[i].split("/").at(-1) as string, new Uint8Array(data));
  }
  return bytes;
}

// The page's output canvases in the direction shown, as RGB bytes by image name.
async function shown(page: Page, direction: Direction): Promise<Map<string, Uint8Array>> {
  const rows = await page.$$eval(
    `.result[data-direction="${direction}"]`,
    (figures) =>
      figures.map((f) => {
        // Browser elements (Deno's types have no DOM).
        const figure = f as unknown as {
          dataset: Record<string, string>;
          querySelector(s: string): {
            width: number;
            getContext(k: string): {
              getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
            };
          };
        };
        const c = figure.querySelector("canvas.output");
        return {
          name: figure.dataset.name,
          rgba: Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.width).data),
        };
      }),
  );
  return new Map(rows.map((r) => [r.name, Uint8Array.from(r.rgba.filter((_, i) => i % 4 !== 3))]));
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

// Every image's translation on the page matches translate's within 2/255.
async function assertMatches(page: Page, run: string, direction: Direction, label: string) {
  const want = await reference(run, direction);
  const got = await shown(page, direction);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, bytes] of want) {
    const diff = maxDiff(got.get(name) as Uint8Array, bytes);
    console.log(`${label} ${direction} ${name}: max difference ${diff}/255`);
    assert.ok(diff <= 2, `${name}: ${diff}/255`);
  }
}

// Does `action`, then waits until the page has done everything it started.
async function settle(page: Page, action: () => Promise<unknown>) {
  await action();
  await page.waitForSelector('body[data-state="ready"]');
}

// A page with its console errors, page errors and requests off its site recorded.
async function openPage(url: string, options: { webgpu?: boolean } = {}) {
  // Headless Chromium has no WebGPU adapter unless told to use SwiftShader's.
  const browser = options.webgpu
    ? await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--enable-unsafe-webgpu"],
    })
    : await launchChromium();
  const page = await browser.newPage();
  page.setDefaultTimeout(options.webgpu ? 120_000 : 30_000);
  const problems: string[] = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("request", (r) => {
    if (!r.url().startsWith(new URL(url).origin) && !r.url().startsWith("data:")) {
      problems.push(r.url());
    }
  });
  await settle(page, () => page.goto(url));
  return { browser, page, problems };
}

const errorText = async (page: Page) =>
  (await page.isVisible("#error")) ? await page.textContent("#error") ?? "" : "";

const unet = await makeRun({ generator: "unet" });

Deno.test({
  name: "the served page translates A→B and B→A as translate does, within 2/255",
  ignore: noChromium,
}, async () => {
  const site = await buildDemoSite(unet);
  assert.deepEqual(site.info.directions, ["ab", "ba"]);
  const server = serveDemoSite(site, { port: 0 });
  const { browser, page, problems } = await openPage(server.url);
  try {
    assert.match(
      await page.textContent("#model") ?? "",
      /A → B: g_ab\.onnx \(unet generator, 64×64/,
    );
    await settle(page, () => page.setInputFiles("#images", files.images));
    assert.equal(await errorText(page), "");
    await assertMatches(page, unet, "ab", "unet");
    await settle(page, () => page.selectOption("#direction", "ba"));
    await assertMatches(page, unet, "ba", "unet");
    assert.equal(await page.locator(".result").count(), 2, "the grid shows the direction chosen");
    const provider = await page.getAttribute("body", "data-provider");
    assert.ok(provider === "wasm" || provider === "webgpu", String(provider));
    console.log(`in-process server: ${await page.textContent("#provider-used")}`);
    assert.equal(await page.evaluate("crossOriginIsolated"), true, "COOP and COEP are sent");
    // An image dropped on the page (a DataTransfer holding a File, as a drop carries).
    const png = Array.from(await Deno.readFile(files.images[0]));
    const dropped = await page.evaluateHandle((bytes) => {
      // Browser globals (Deno's types have no DOM).
      const g = globalThis as unknown as {
        DataTransfer: new () => { items: { add(f: unknown): void } };
        File: new (parts: unknown[], name: string, o: { type: string }) => unknown;
      };
      const transfer = new g.DataTransfer();
      transfer.items.add(new g.File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
      return transfer;
    }, png);
    await settle(page, () => page.dispatchEvent("#drop", "drop", { dataTransfer: dropped }));
    assert.equal(await page.locator('.result[data-name="dropped.png"] canvas.output').count(), 1);
    assert.deepEqual(problems, [], "no console error, no request off the site");
    assert.equal((await fetch(new URL("../etc/passwd", server.url))).status, 404);
    assert.equal((await fetch(new URL("nothing.onnx", server.url))).status, 404);
  } finally {
    await browser.close();
    await server.close();
  }
});

// SwiftShader compiles the WebGPU shaders on the CPU: about 30 s on a 2-core
// machine, worth it for the page's WebGPU path.
Deno.test({
  name: "on WebGPU (SwiftShader's adapter) the page translates as translate does",
  ignore: noChromium,
}, async () => {
  const server = serveDemoSite(await buildDemoSite(unet), { port: 0 });
  const { browser, page, problems } = await openPage(server.url, { webgpu: true });
  try {
    await settle(page, () => page.setInputFiles("#images", files.images));
    assert.equal(await errorText(page), "");
    assert.equal(await page.getAttribute("body", "data-provider"), "webgpu");
    await assertMatches(page, unet, "ab", "webgpu");
    console.log(`webgpu: ${await page.textContent("#provider-used")}`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

Deno.test({
  name: "deno task demo serves the paper generator's page, which translates as translate does",
  ignore: noChromium,
}, async () => {
  const paper = await makeRun({ generator: "paper", discriminator: "paper" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/demo.ts", "--checkpoint", paper, "--port", "0"],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let said = "";
    while (!/http:\S+/.test(said)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the demo ended before serving: ${said}`);
      said += value;
    }
    reader.releaseLock();
    const url = (/http:\S+/.exec(said) as RegExpExecArray)[0];
    assert.match(said, /^demo of paper generators of /);
    const { browser, page, problems } = await openPage(url);
    try {
      await settle(page, () => page.setInputFiles("#images", files.images));
      await assertMatches(page, paper, "ab", "paper");
      console.log(`CLI server: ${await page.getAttribute("body", "data-provider")}`);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test({
  name: "a non-image or a model that is no generator gets the page's message, and the page goes on",
  ignore: noChromium,
}, async () => {
  const server = serveDemoSite(await buildDemoSite(), { port: 0 });
  const { browser, page, problems } = await openPage(server.url);
  try {
    assert.match(await page.textContent("#model") ?? "", /No model is served here: pick or drop/);
    await settle(page, () => page.setInputFiles("#images", files.images.slice(0, 1)));
    assert.match(await errorText(page), /^No model for A → B: pick or drop a \.onnx file/);
    for (const bad of [files.badModel, files.grey]) {
      const name = bad.split("/").at(-1) as string;
      await settle(page, () => page.setInputFiles("#model-file", bad));
      assert.match(
        await errorText(page),
        new RegExp(
          `^${name.replace(".", "\\.")} is not a DiscoGAN generator exported by deno task export: `,
        ),
      );
      assert.equal(await page.locator(".result").count(), 0);
    }
    assert.match(await errorText(page), /its input "image" is float32 \[batch, 1, 64, 64\]/);
    // A real generator, picked: the image waiting is translated with it.
    const model = join(files.dir, "g_ab.onnx");
    await exportOnnxFile(unet, "ab", model);
    await settle(page, () => page.setInputFiles("#model-file", model));
    assert.equal(await errorText(page), "");
    assert.equal(await page.locator('.result[data-name="image_0.png"] canvas.output').count(), 1);
    assert.match(await page.textContent("#model") ?? "", /A → B: g_ab\.onnx \(64×64, your file/);
    // A text file among images: named, skipped; the image beside it is translated.
    await settle(page, () => page.setInputFiles("#images", [files.text, files.images[1]]));
    assert.equal(await errorText(page), "notes.txt is not an image the browser can decode");
    assert.deepEqual(
      await page.$$eval(
        ".result",
        (r) => r.map((e) => (e as unknown as { dataset: { name: string } }).dataset.name),
      ),
      ["image_1.png"],
    );
    // An image of another size is drawn at the model's, and the page says so.
    await settle(page, () => page.setInputFiles("#images", [files.images[0], files.wide]));
    assert.equal(await errorText(page), "");
    assert.equal(await page.locator(".result canvas.output").count(), 2);
    assert.match(
      await page.textContent('.result[data-name="wide.png"] figcaption') ?? "",
      /resized from 100×80 to 64×64/,
    );
    // B → A has no model here: said, not thrown.
    await settle(page, () => page.selectOption("#direction", "ba"));
    assert.match(await errorText(page), /^No model for B → A/);
    // WebGPU asked for where there is none (headless Chromium): said, and WebAssembly still runs.
    await settle(page, () => page.selectOption("#direction", "ab"));
    await settle(page, () => page.selectOption("#provider", "webgpu"));
    assert.match(await errorText(page), /^This browser has no WebGPU adapter/);
    await settle(page, () => page.selectOption("#provider", "wasm"));
    assert.equal(await errorText(page), "");
    assert.equal(await page.locator('.result[data-provider="wasm"] canvas.output').count(), 2);
    const shot = Deno.env.get("DEMO_SCREENSHOT");
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    assert.deepEqual(problems, [], "messages, not console errors");
  } finally {
    await browser.close();
    await server.close();
  }
});

Deno.test({
  name: "--out writes a static site that another web server hosts, and it translates",
  ignore: noChromium,
}, async () => {
  const out = join(await Deno.makeTempDir({ prefix: "demo_site_" }), "site");
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/demo.ts", "--checkpoint", unet, "--out", out],
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  const said = new TextDecoder().decode(stderr);
  assert.equal(code, 0, said);
  assert.match(said, /^wrote 10 files \([\d.]+ MiB\) to /);
  const names = [];
  let bytes = 0;
  for await (const e of Deno.readDir(out)) {
    names.push(e.name);
    bytes += (await Deno.stat(join(out, e.name))).size;
  }
  assert.deepEqual(names.sort(), [
    "demo.json",
    "g_ab.onnx",
    "g_ba.onnx",
    "index.html",
    "ort-wasm-simd-threaded.jsep.mjs",
    "ort-wasm-simd-threaded.jsep.wasm",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
    "ort.min.mjs",
    "ort.wasm.min.mjs",
  ]);
  console.log(`--out folder: ${(bytes / 2 ** 20).toFixed(1)} MiB in ${names.length} files`);
  // A plain file server: no cross-origin isolation, so one WebAssembly thread.
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const name = new URL(req.url).pathname.slice(1) || "index.html";
    try {
      return new Response(await Deno.readFile(join(out, name)), {
        headers: { "content-type": contentType(name) },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const { browser, page, problems } = await openPage(`http://127.0.0.1:${server.addr.port}/`);
  try {
    await settle(page, () => page.setInputFiles("#images", files.images));
    await assertMatches(page, unet, "ab", "static");
    assert.match(await page.textContent("#provider-used") ?? "", /1 thread|WebGPU/);
    console.log(`static server: ${await page.getAttribute("body", "data-provider")}`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(join(out, ".."), { recursive: true }); // 45 MiB
  }
});

Deno.test("deno task demo fails before serving when the checkpoint cannot be exported", async () => {
  const missing = join(files.dir, "no_such_run");
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/demo.ts", ...args],
      cwd: root,
      env: { NO_COLOR: "1" },
    }).output();
  const bad = await run(["--checkpoint", missing, "--port", "0"]);
  assert.equal(bad.code, 1);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    new RegExp(`^error: ${missing} cannot be shown in the demo: .*neither a run directory`),
  );
  const port = await run(["--port", "eighty"]);
  assert.equal(port.code, 2);
  assert.match(new TextDecoder().decode(port.stderr), /^error: --port: expected a number/);
});
