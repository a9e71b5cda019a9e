// A corpus of bad inputs, made here, and the exact outcome of each: trains
// (converted), skipped with one warning naming the file and counted in the
// metrics, or stopped before training with a message naming the path.
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { readMetrics } from "../pipeline/sinks/metrics_sink.ts";
import { disposeTrainResult, train } from "../pipeline/train.ts";
import { unpairedSource } from "../pipeline/batch_source.ts";
import type { SkippedImage } from "../pipeline/image_folder.ts";

const png = (w: number, h: number, channels: 1 | 3 | 4, v = 90) =>
  sharp(new Uint8Array(w * h * channels).fill(v), { raw: { width: w, height: h, channels } })
    .png().toBuffer();

// CRC-32 of PNG chunks, to hand-write a header that declares a huge picture.
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A 200 000 x 200 000 PNG in 86 bytes: decoding it would need 120 GB. */
function decompressionBomb(): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, 200_000);
  v.setUint32(4, 200_000);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  // A few zero rows of compressed data: a header sharp accepts.
  const idat = new Uint8Array([120, 156, 99, 96, 24, 5, 163, 96, 20, 12, 119, 0, 0, 3, 232, 0, 1]);
  return new Uint8Array([
    ...sig,
    ...chunk("IHDR", ihdr),
    ...chunk("IDAT", idat),
    ...chunk("IEND", new Uint8Array()),
  ]);
}

async function makeCorpus(dir: string): Promise<Record<string, "trains" | "skipped">> {
  await Deno.mkdir(dir, { recursive: true });
  const w = (name: string, data: Uint8Array | string) =>
    typeof data === "string"
      ? Deno.writeTextFile(join(dir, name), data)
      : Deno.writeFile(join(dir, name), data);
  const good = await png(40, 40, 3);
  const jpeg = await sharp(good).jpeg().toBuffer();
  await w("good.png", good);
  await w("zero_bytes.png", new Uint8Array());
  await w("truncated.png", (await png(64, 64, 3, 0)).subarray(0, 60));
  await w(
    "truncated_body.png",
    await (async () => {
      const noisy = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 256);
      const full = await sharp(noisy, { raw: { width: 64, height: 64, channels: 3 } }).png()
        .toBuffer();
      return full.subarray(0, Math.floor(full.length * 0.6));
    })(),
  );
  await w("truncated.jpg", jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await w("text.png", "this is not a picture\n");
  await w(
    "sixteen_bit.png",
    await sharp(new Uint16Array(32 * 32 * 3).fill(40000), {
      raw: { width: 32, height: 32, channels: 3 },
    }).png().toBuffer(),
  );
  await w("gray.png", await sharp(await png(30, 30, 1)).toColourspace("b-w").png().toBuffer());
  await w("rgba.png", await png(30, 30, 4));
  await w("cmyk.jpg", await sharp(good).toColourspace("cmyk").jpeg().toBuffer());
  await w("bomb.png", decompressionBomb());
  await w("wide.png", await png(200, 20, 3));
  await w("tiny.png", await png(1, 1, 3));
  await w("unreadable.png", good);
  await Deno.chmod(join(dir, "unreadable.png"), 0o000);
  await Deno.mkdir(join(dir, "nested"));
  await Deno.symlink(dir, join(dir, "nested", "loop")); // a folder that contains itself
  const root = Deno.uid() === 0; // root reads any file whatever its mode
  return {
    "good.png": "trains",
    "zero_bytes.png": "skipped",
    "truncated.png": "skipped",
    "truncated_body.png": "skipped",
    "truncated.jpg": "skipped",
    "text.png": "skipped",
    "sixteen_bit.png": "trains",
    "gray.png": "trains",
    "rgba.png": "trains",
    "cmyk.jpg": "trains",
    "bomb.png": "skipped",
    "wide.png": "trains",
    "tiny.png": "trains",
    "unreadable.png": root ? "trains" : "skipped",
  };
}

Deno.test("every bad file trains converted or is skipped with one warning, counted", async () => {
  const root = await Deno.makeTempDir();
  const dirA = join(root, "a"), dirB = join(root, "b");
  const expected = await makeCorpus(dirA);
  await makeCorpus(dirB);
  const warnings: string[] = [];
  const runDir = join(root, "run");
  const n = Object.keys(expected).length;
  const result = await train({
    dataA: dirA,
    dataB: dirB,
    ngf: 4,
    ndf: 4,
    batchSize: 4,
    iterations: 2 * Math.ceil(n / 4), // every file drawn at least once
    backend: "wasm",
    sampleEvery: 0,
    runDir,
  }, { quiet: true, log: (m) => warnings.push(m) });
  const skippedA = warnings.filter((w) =>
    w.startsWith("warning: skipping ") && w.includes(`${dirA}/`)
  );
  for (const [name, outcome] of Object.entries(expected)) {
    const lines = skippedA.filter((w) => w.includes(`${dirA}/${name}:`));
    assert.equal(
      lines.length,
      outcome === "skipped" ? 1 : 0,
      `${name}: ${lines.join(" | ") || "no warning"}`,
    );
  }
  assert.ok(
    skippedA.find((w) => w.includes("bomb.png"))?.includes("over the limit"),
    "bomb refused by pixel count",
  );
  assert.ok(skippedA.find((w) => w.includes("zero_bytes.png"))?.includes("empty file"));
  const metrics = await readMetrics(join(runDir, "metrics.jsonl"));
  const skippedCount = 2 * Object.values(expected).filter((o) => o === "skipped").length;
  assert.equal(metrics.at(-1)?.skipped_images, skippedCount, "both folders' skips counted");
  for (const m of metrics) assert.ok(Number.isFinite(m.g), "trained on the rest");
  disposeTrainResult(result);
});

Deno.test("converted files give the right RGB values", async () => {
  const root = await Deno.makeTempDir();
  await makeCorpus(join(root, "c"));
  const keep = ["sixteen_bit.png", "gray.png", "rgba.png", "cmyk.jpg"];
  for (const name of keep) {
    const dir = join(root, name);
    await Deno.mkdir(dir);
    await Deno.copyFile(join(root, "c", name), join(dir, name));
    const skipped: SkippedImage[] = [];
    const source = await unpairedSource(dir, dir, {
      batchSize: 1,
      size: 8,
      seed: 0,
      flip: false,
      onSkip: (s) => skipped.push(s),
    });
    const { a } = await source.next();
    await source.close();
    assert.deepEqual(skipped, []);
    const pixel = [...a.subarray(0, 3)].map((x) => Math.round((x + 1) * 127.5));
    const want = {
      "sixteen_bit.png": [156, 156, 156],
      "gray.png": [90, 90, 90],
      "rgba.png": [0, 0, 0],
      "cmyk.jpg": [90, 90, 90],
    }[name] as number[];
    // RGBA (90,90,90,alpha 90) is flattened onto white: 90·90/255 + 255·(1 - 90/255).
    if (name === "rgba.png") {
      want.splice(
        0,
        3,
        ...[0, 1, 2].map(() => Math.round(90 * 90 / 255 + 255 * (1 - 90 / 255))),
      );
    }
    // CMYK goes through a colour-managed conversion: a little further off.
    const tolerance = name === "cmyk.jpg" ? 14 : 3;
    pixel.forEach((v, i) =>
      assert.ok(Math.abs(v - want[i]) <= tolerance, `${name}: ${pixel} vs ${want}`)
    );
  }
});

Deno.test("folders with nothing usable stop the run before training, naming the path", async () => {
  const root = await Deno.makeTempDir();
  const good = join(root, "good");
  await Deno.mkdir(good);
  await Deno.writeFile(join(good, "x.png"), await png(8, 8, 3));
  const empty = join(root, "empty"), textOnly = join(root, "text"), broken = join(root, "broken");
  await Deno.mkdir(empty);
  await Deno.mkdir(textOnly);
  await Deno.writeTextFile(join(textOnly, "notes.txt"), "hello");
  await Deno.mkdir(broken);
  await Deno.writeFile(join(broken, "a.png"), new Uint8Array());
  await Deno.writeTextFile(join(broken, "b.png"), "not a png");
  const cases: [string, RegExp][] = [
    [join(root, "missing"), /missing.*does not exist/],
    [empty, /empty.*contains no images/],
    [textOnly, /text.*contains no images/],
    [broken, /broken: none of its 2 image file\(s\) can be read/],
  ];
  for (const [dir, message] of cases) {
    const runDir = join(root, `run-${dir.split("/").at(-1)}`);
    await assert.rejects(
      train({ dataA: good, dataB: dir, ngf: 4, ndf: 4, backend: "wasm", runDir }, {
        quiet: true,
        log: () => {},
      }),
      message,
    );
    assert.equal(
      await Deno.stat(runDir).then(() => true, () => false),
      false,
      `${dir}: nothing written`,
    );
  }
});
