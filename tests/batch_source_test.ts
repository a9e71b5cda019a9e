import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import {
  type BatchSource,
  type HostBatch,
  pairedSource,
  type SourceOptions,
  unpairedSource,
} from "../pipeline/batch_source.ts";
import {
  DataError,
  decodeImage,
  type DecodeOptions,
  type ImageDecoder,
  listImages,
} from "../pipeline/image_folder.ts";

// --- Fixtures ---------------------------------------------------------------
// Solid-colour images whose red value encodes their id (15 + 30 * id), in
// assorted sizes and formats, so a batch row tells which file it came from.

const root = await Deno.makeTempDir({ prefix: "batch_source_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

const red = (id: number): number => 15 + 30 * id;

function raw(w: number, h: number, channels: 1 | 3 | 4, px: (x: number, y: number) => number[]) {
  const data = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set(px(x, y), (y * w + x) * channels);
  }
  return sharp(data, { raw: { width: w, height: h, channels } });
}

function solid(w: number, h: number, channels: 1 | 3 | 4, value: number[]) {
  return raw(w, h, channels, () => value);
}

async function png16(path: string, w: number, h: number, rgb: number[]): Promise<void> {
  const data = new Uint16Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb.map((v) => v * 257), i * 3);
  await sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .toColourspace("rgb16").png().toFile(path);
}

const dirA = join(root, "A"), dirB = join(root, "B");
await Deno.mkdir(join(dirA, "sub"), { recursive: true });
await Deno.mkdir(dirB);
await solid(10, 10, 1, [red(0)]).toColourspace("b-w").png().toFile(join(dirA, "a0.png"));
await solid(12, 9, 4, [red(1), 40, 80, 255]).png().toFile(join(dirA, "a1.png"));
await solid(16, 16, 3, [red(2), 60, 90]).jpeg({ quality: 100 }).toFile(join(dirA, "a2.JPG"));
await png16(join(dirA, "a3.png"), 9, 13, [red(3), 70, 20]);
await solid(8, 8, 3, [red(4), 10, 10]).webp({ lossless: true }).toFile(join(dirA, "a4.webp"));
await solid(20, 10, 3, [red(5), 0, 0]).png().toFile(join(dirA, "sub", "a5.png"));
await solid(11, 7, 3, [red(6), 99, 99]).tiff().toFile(join(dirA, "a6.tif"));
// Litter the listing must skip: not an image, a hidden (macOS "._") file, a link loop.
await Deno.writeTextFile(join(dirA, "notes.txt"), "not an image");
await Deno.writeTextFile(join(dirA, "._a0.png"), "AppleDouble, not a PNG");
await Deno.symlink("..", join(dirA, "sub", "loop"));
for (let id = 0; id < 5; id++) {
  await solid(6 + id, 8, 3, [red(id), 200, 200]).png().toFile(join(dirB, `b${id}.png`));
}

// Coordinates as colours (R = 20x, G = 20y), 12x12: a crop's offset and flip
// can be read off its pixels.
const dirGrid = join(root, "grid");
await Deno.mkdir(dirGrid);
for (let id = 0; id < 3; id++) {
  await raw(12, 12, 3, (x, y) => [20 * x, 20 * y, red(id)]).png()
    .toFile(join(dirGrid, `g${id}.png`));
}

// Paired A|B files, 24x12: A half R = 20x, G = 20y; B half R = 20y, G = 20x
// (x within the half); blue = the file's id on both halves.
const dirPaired = join(root, "paired");
await Deno.mkdir(dirPaired);
for (let id = 0; id < 4; id++) {
  await raw(
    24,
    12,
    3,
    (x, y) => x < 12 ? [20 * x, 20 * y, red(id)] : [20 * y, 20 * (x - 12), red(id)],
  ).png()
    .toFile(join(dirPaired, `p${id}.png`));
}

// --- Helpers ----------------------------------------------------------------

const byte = (v: number): number => Math.round((v + 1) * 127.5);

/** Pixel (x, y) channel c of row `row` of an NHWC batch, as a byte. */
function at(data: Float32Array, size: number, row: number, x: number, y: number, c: number) {
  return byte(data[((row * size + y) * size + x) * 3 + c]);
}

/** Ids of the solid images of each row of `data`, checking that each row is solid. */
function ids(data: Float32Array, shape: HostBatch["shape"]): number[] {
  const [n, size] = shape;
  const out: number[] = [];
  for (let row = 0; row < n; row++) {
    const r = at(data, size, row, 0, 0, 0);
    for (let i = 0; i < size * size; i++) {
      assert.ok(Math.abs(byte(data[(row * size * size + i) * 3]) - r) <= 2, "row not solid");
    }
    const id = Math.round((r - 15) / 30);
    assert.ok(Math.abs(r - red(id)) <= 2, `red ${r} encodes no id`);
    out.push(id);
  }
  return out;
}

async function take(source: BatchSource, count: number): Promise<HostBatch[]> {
  const out: HostBatch[] = [];
  for (let k = 0; k < count; k++) out.push(await source.next());
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** decodeImage, counting calls started and finished (or failed), optionally slowed. */
function countingDecoder(delayMs = 0): ImageDecoder & { started: number; finished: number } {
  const decoder = Object.assign(
    async (path: string, options: DecodeOptions) => {
      decoder.started++;
      try {
        if (delayMs > 0) await sleep(delayMs);
        return await decodeImage(path, options);
      } finally {
        decoder.finished++;
      }
    },
    { started: 0, finished: 0 },
  );
  return decoder;
}

const base: SourceOptions = { batchSize: 3, size: 8, seed: 42 };

async function rejectsWithPath(p: Promise<unknown>, path: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, `not a DataError: ${e}`);
    assert.equal(e.path, path);
    assert.ok(e.message.includes(path), e.message);
    return true;
  });
}

// --- Tests ------------------------------------------------------------------

Deno.test("listImages: recursive, sorted, image extensions only, survives a link loop", async () => {
  const files = await listImages(dirA);
  assert.deepEqual(
    files.map((f) => f.slice(dirA.length + 1)),
    ["a0.png", "a1.png", "a2.JPG", "a3.png", "a4.webp", "a6.tif", "sub/a5.png"],
  );
});

Deno.test("listImages: missing, non-folder, empty and image-less folders are DataErrors", async () => {
  const missing = join(root, "missing");
  await rejectsWithPath(listImages(missing), missing);
  await assert.rejects(listImages(missing), /--data-a\/--data-b/);
  const file = join(dirB, "b0.png");
  await rejectsWithPath(listImages(file), file);
  const empty = join(root, "empty");
  await Deno.mkdir(empty);
  await rejectsWithPath(listImages(empty), empty);
  await assert.rejects(listImages(empty), /contains no images \(\.png, \.jpg/);
  const text = join(root, "text");
  await Deno.mkdir(text);
  await Deno.writeTextFile(join(text, "readme.txt"), "hi");
  await rejectsWithPath(listImages(text), text);
  await rejectsWithPath(unpairedSource(dirA, missing, base), missing);
  await rejectsWithPath(pairedSource(empty, base), empty);
});

Deno.test("decodeImage: grey, 16-bit, CMYK and transparency become 8-bit sRGB RGB", async () => {
  const dir = join(root, "convert");
  await Deno.mkdir(dir);
  const grey = join(dir, "grey.png"), deep = join(dir, "deep.png");
  const cmyk = join(dir, "cmyk.jpg"), clear = join(dir, "clear.png");
  await solid(5, 4, 1, [77]).toColourspace("b-w").png().toFile(grey);
  await png16(deep, 5, 4, [100, 150, 200]);
  await solid(5, 4, 3, [100, 150, 200]).toColourspace("cmyk").jpeg({ quality: 100 }).toFile(cmyk);
  await solid(5, 4, 4, [10, 20, 30, 0]).png().toFile(clear);
  assert.equal((await sharp(grey).metadata()).channels, 1);
  assert.equal((await sharp(deep).metadata()).depth, "ushort");
  assert.equal((await sharp(cmyk).metadata()).space, "cmyk");

  const expect = async (path: string, rgb: number[], tolerance: number) => {
    const img = await decodeImage(path, { size: 3 });
    assert.equal(img.width, 3);
    assert.equal(img.height, 3);
    assert.equal(img.data.length, 27);
    for (let i = 0; i < 27; i++) {
      assert.ok(Math.abs(img.data[i] - rgb[i % 3]) <= tolerance, `${path}: ${img.data}`);
    }
  };
  await expect(grey, [77, 77, 77], 0);
  await expect(deep, [100, 150, 200], 0);
  await expect(cmyk, [100, 150, 200], 10); // through the default CMYK profile and back
  await expect(clear, [255, 255, 255], 0); // flattened onto white

  const loaded = await decodeImage(grey, { size: 3, loadSize: 6 });
  assert.deepEqual([loaded.width, loaded.height], [6, 6]);

  const half = await decodeImage(join(dirPaired, "p0.png"), { size: 12, half: "right" });
  assert.deepEqual([half.data[0], half.data[1], half.data[3 + 1]], [0, 0, 20]); // B's G = 20x

  const bad = join(dir, "bad.png");
  await Deno.writeTextFile(bad, "not a PNG");
  await rejectsWithPath(decodeImage(bad, { size: 3 }), bad);
});

Deno.test("unpaired: shapes, value range, counts and epochs", async () => {
  const source = await unpairedSource(dirA, dirB, { ...base, loadSize: 10 });
  assert.equal(source.imagesA, 7);
  assert.equal(source.imagesB, 5);
  assert.equal(source.batchesPerEpoch, 3);
  const batches = await take(source, 5);
  await source.close();
  batches.forEach((batch, k) => {
    assert.deepEqual(batch.shape, [3, 8, 8, 3]);
    assert.equal(batch.a.length, 3 * 8 * 8 * 3);
    assert.equal(batch.b.length, 3 * 8 * 8 * 3);
    assert.equal(batch.index, k);
    assert.equal(batch.epoch, Math.floor(k * 3 / 7));
    for (const v of [...batch.a, ...batch.b]) assert.ok(v >= -1 && v <= 1);
  });
});

Deno.test("unpaired: each epoch of A and of B draws every file once, in a new order", async () => {
  const source = await unpairedSource(dirA, dirB, base);
  const batches = await take(source, 12); // 36 draws: 5 epochs of A, 7 of B
  await source.close();
  const seqA = batches.flatMap((b) => ids(b.a, b.shape));
  const seqB = batches.flatMap((b) => ids(b.b, b.shape));
  const epochs = (seq: number[], n: number) =>
    Array.from({ length: Math.floor(seq.length / n) }, (_, e) => seq.slice(e * n, e * n + n));
  const a = epochs(seqA, 7), b = epochs(seqB, 5);
  for (const e of a) assert.deepEqual([...e].sort(), [0, 1, 2, 3, 4, 5, 6]);
  for (const e of b) assert.deepEqual([...e].sort(), [0, 1, 2, 3, 4]);
  assert.ok(new Set(a.map(String)).size > 1, "A order never changes");
  assert.ok(new Set(b.map(String)).size > 1, "B order never changes");
});

Deno.test("unpaired: A and B are shuffled independently", async () => {
  const source = await unpairedSource(dirB, dirB, base); // same files on both sides
  const batches = await take(source, 5);
  await source.close();
  const seqA = batches.flatMap((b) => ids(b.a, b.shape));
  const seqB = batches.flatMap((b) => ids(b.b, b.shape));
  assert.notDeepEqual(seqA, seqB);
});

Deno.test("same seed gives identical batches; another seed another order", async () => {
  const opts = { ...base, loadSize: 11 };
  const run = async (seed: number) => {
    const source = await unpairedSource(dirA, dirB, { ...opts, seed });
    const batches = await take(source, 4);
    await source.close();
    return batches;
  };
  const [one, two, other] = [await run(7), await run(7), await run(8)];
  assert.deepEqual(one, two);
  const order = (bs: HostBatch[]) => bs.flatMap((b) => ids(b.a, b.shape));
  assert.notDeepEqual(order(one), order(other));
});

Deno.test("startBatch resumes exactly, without decoding the skipped batches", async () => {
  const opts = { ...base, loadSize: 10, prefetch: 2 };
  const whole = await unpairedSource(dirA, dirB, opts);
  const expected = await take(whole, 9);
  await whole.close();

  const decode = countingDecoder();
  const resumed = await unpairedSource(dirA, dirB, { ...opts, startBatch: 5, decode });
  const got = await take(resumed, 4);
  await resumed.close();
  assert.deepEqual(got, expected.slice(5));
  assert.deepEqual(got.map((b) => [b.index, b.epoch]), [[5, 2], [6, 2], [7, 3], [8, 3]]);
  // Batches 5..8 taken plus 9 and 10 prefetched, two images a row.
  assert.equal(decode.started, (4 + 2) * 3 * 2);

  // Paired sources resume the same way.
  const pairedWhole = await pairedSource(dirPaired, { ...base, size: 8, loadSize: 12 });
  const pairedExpected = await take(pairedWhole, 4);
  await pairedWhole.close();
  const pairedResumed = await pairedSource(dirPaired, {
    ...base,
    size: 8,
    loadSize: 12,
    startBatch: 2,
  });
  assert.deepEqual(await take(pairedResumed, 2), pairedExpected.slice(2));
  await pairedResumed.close();
});

Deno.test("prefetch: runs ahead while the consumer is idle, never more than `prefetch`", async () => {
  const prefetch = 2, perBatch = 2 * 2;
  const decode = countingDecoder(15);
  const source = await unpairedSource(dirA, dirB, { ...base, batchSize: 2, prefetch, decode });
  assert.equal(source.inFlight, prefetch);
  await sleep(300);
  assert.equal(decode.started, prefetch * perBatch, "decoded more than `prefetch` batches");
  assert.equal(decode.finished, prefetch * perBatch, "did not decode ahead while idle");
  for (let taken = 1; taken <= 5; taken++) {
    const batch = source.next();
    assert.ok(source.inFlight <= prefetch);
    assert.ok(decode.started <= (taken + prefetch) * perBatch);
    assert.equal((await batch).index, taken - 1);
    assert.ok(source.inFlight <= prefetch);
  }
  await source.close();
  assert.equal(source.inFlight, 0);
  assert.equal(decode.finished, decode.started, "close() resolved while a decode was running");
  await assert.rejects(source.next(), /closed/);
});

// A native decode still running when a test module's isolate ends crashed
// Deno (issue 12): neither a failed batch nor close() may leave one behind.
Deno.test("a failed batch, and close(), leave no decode running", async () => {
  const counts = { started: 0, settled: 0 };
  // Every file of A fails after 5 ms; B's decode slowly (200 ms).
  const decode: ImageDecoder = async (path, options) => {
    counts.started++;
    try {
      const failing = path.startsWith(dirA);
      await sleep(failing ? 5 : 200);
      if (failing) throw new Error("unreadable");
      return await decodeImage(path, options);
    } finally {
      counts.settled++;
    }
  };
  const onDemand = await unpairedSource(dirA, dirB, { ...base, prefetch: 0, decode });
  await assert.rejects(onDemand.next(), DataError);
  assert.equal(counts.settled, counts.started, "the batch failed while B's decodes ran on");
  await onDemand.close();

  const ahead = await unpairedSource(dirA, dirB, { ...base, prefetch: 3, decode });
  await ahead.close();
  assert.equal(counts.settled, counts.started, "close() resolved while decodes ran on");
  const started = counts.started;
  await sleep(50);
  assert.equal(counts.started, started, "a decode started after close()");
});

Deno.test("prefetch 0 decodes on demand", async () => {
  const decode = countingDecoder();
  const source = await unpairedSource(dirA, dirB, { ...base, prefetch: 0, decode });
  await sleep(50);
  assert.equal(decode.started, 0);
  await source.next();
  assert.equal(decode.started, 3 * 2);
  assert.equal(source.inFlight, 0);
  await source.close();
});

Deno.test("random crop: inside the loaded image, varying, flipped now and then", async () => {
  const size = 8, loadSize = 12;
  const offsets = new Set<string>();
  let flips = 0, rows = 0;
  for (const flip of [true, false]) {
    const source = await unpairedSource(dirGrid, dirGrid, {
      ...base,
      size,
      loadSize,
      flip,
      batchSize: 4,
    });
    for (const batch of await take(source, 6)) {
      for (const data of [batch.a, batch.b]) {
        for (let row = 0; row < 4; row++) {
          const x0 = at(data, size, row, 0, 0, 0) / 20, y0 = at(data, size, row, 0, 0, 1) / 20;
          const flipped = at(data, size, row, 1, 0, 0) < at(data, size, row, 0, 0, 0);
          const left = flipped ? x0 - (size - 1) : x0; // crop's left column in the loaded image
          assert.ok(left >= 0 && left + size <= loadSize, `crop x ${left} out of bounds`);
          assert.ok(y0 >= 0 && y0 + size <= loadSize, `crop y ${y0} out of bounds`);
          for (let y = 0; y < size; y++) {
            for (let x = 0; x < size; x++) {
              assert.equal(at(data, size, row, x, y, 0), 20 * (flipped ? x0 - x : x0 + x));
              assert.equal(at(data, size, row, x, y, 1), 20 * (y0 + y));
            }
          }
          if (flip) {
            offsets.add(`${left},${y0}`);
            flips += flipped ? 1 : 0;
            rows++;
          } else {
            assert.ok(!flipped, "flipped with flip: false");
          }
        }
      }
    }
    await source.close();
  }
  assert.ok(offsets.size > 5, `only ${offsets.size} distinct crops`);
  assert.ok(flips > 0 && flips < rows, `${flips} of ${rows} rows flipped`);
});

Deno.test("paired: A is the left half, B the right, same file, same crop and flip", async () => {
  const size = 8, loadSize = 12;
  const source = await pairedSource(dirPaired, { ...base, size, loadSize, batchSize: 4 });
  assert.equal(source.imagesA, 4);
  assert.equal(source.imagesB, 4);
  let flips = 0;
  const seq: number[] = [];
  for (const batch of await take(source, 4)) {
    for (let row = 0; row < 4; row++) {
      seq.push((at(batch.a, size, row, 0, 0, 2) - 15) / 30);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          // Same file: same blue; same crop and flip: A's (R, G) is B's (G, R).
          assert.equal(at(batch.a, size, row, x, y, 2), at(batch.b, size, row, x, y, 2));
          assert.equal(at(batch.a, size, row, x, y, 0), at(batch.b, size, row, x, y, 1));
          assert.equal(at(batch.a, size, row, x, y, 1), at(batch.b, size, row, x, y, 0));
        }
      }
      // A from the left half: its red runs along x (B's would run along y).
      assert.equal(at(batch.a, size, row, 0, 1, 0), at(batch.a, size, row, 0, 0, 0));
      const step = at(batch.a, size, row, 1, 0, 0) - at(batch.a, size, row, 0, 0, 0);
      assert.ok(step === 20 || step === -20);
      if (step < 0) flips++;
    }
  }
  await source.close();
  assert.ok(flips > 0 && flips < 16, `${flips} of 16 pairs flipped`);
  for (let e = 0; e < 4; e++) assert.deepEqual(seq.slice(4 * e, 4 * e + 4).sort(), [0, 1, 2, 3]);
});

Deno.test("a file that does not decode is skipped once, reported, and its draws go to others", async () => {
  const dir = join(root, "broken");
  await Deno.mkdir(dir);
  await solid(4, 4, 3, [1, 2, 3]).png().toFile(join(dir, "good.png"));
  const bad = join(dir, "bad.png");
  await Deno.writeTextFile(bad, "truncated");
  const skipped: { path: string; reason: string }[] = [];
  const source = await unpairedSource(dir, dirB, {
    ...base,
    batchSize: 2,
    prefetch: 1,
    onSkip: (s) => skipped.push(s),
  });
  const batch = await source.next();
  await source.close();
  assert.deepEqual(skipped.map((s) => s.path), [bad]);
  assert.equal(source.imagesA, 1, "only the good file is drawn");
  for (let row = 0; row < 2; row++) {
    assert.equal(Math.round((batch.a[row * 4 * 4 * 3] + 1) * 127.5), 1, "rows come from good.png");
  }
});

Deno.test("when no file of a domain decodes any more, next() rejects naming a file", async () => {
  const dir = join(root, "all-broken-bodies");
  await Deno.mkdir(dir);
  await solid(4, 4, 3, [1, 2, 3]).png().toFile(join(dir, "a.png"));
  const failing: ImageDecoder = (path) =>
    Promise.reject(new DataError(`Cannot decode image "${path}": broken body`, path));
  const skipped: string[] = [];
  const source = await unpairedSource(dir, dirB, {
    ...base,
    batchSize: 1,
    prefetch: 1,
    decode: failing,
    onSkip: (s) => skipped.push(s.path),
  });
  await rejectsWithPath(source.next(), join(dir, "a.png"));
  await source.close();
  assert.ok(skipped.includes(join(dir, "a.png")));
});
