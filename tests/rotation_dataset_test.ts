// The rotation benchmark's data set, reader and metrics (scripts/rotation_dataset.ts):
// no training, a few seconds.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  angleMetrics,
  angleOf,
  drawSpec,
  ensureRotationDataset,
  headingOffset,
  readAngle,
  relationMetrics,
  renderRotated,
  renderTemplateBank,
  type RgbImage,
  ROTATION_ICONS,
  rotationIconProblem,
  rotationSettings,
  type TemplateBank,
} from "../scripts/rotation_dataset.ts";
import { decodeImage, listImages } from "../pipeline/image_folder.ts";

let bank: TemplateBank | undefined;
const templates = async () => bank ??= await renderTemplateBank();

Deno.test("the reader recovers the angle of jittered car renders within 2°", async () => {
  const b = await templates();
  assert.equal(b.angles.length, 181);
  const errors: number[] = [];
  for (let i = 0; i < 24; i++) {
    const spec = drawSpec(7, "reader-test", i);
    const image = await renderRotated("B", spec);
    errors.push(Math.abs(angleOf(image.data, b) - spec.angle));
  }
  assert.ok(Math.max(...errors) <= 2, `errors ${errors.map((e) => e.toFixed(1))}`);
  // The extremes, and the clean template itself read back exactly.
  for (const angle of [-90, 90, 0]) {
    const image = await renderRotated("B", { angle, scale: 1, dx: 0, dy: 0 });
    const r = readAngle(image.data, b);
    assert.equal(r.angle, angle);
    assert.ok(r.correlation > 0.999);
  }
});

Deno.test("the reader tells mirrored angles apart and rejects a blank image gracefully", async () => {
  const b = await templates();
  const at = async (angle: number) =>
    angleOf((await renderRotated("B", { angle, scale: 1.02, dx: 1, dy: -1 })).data, b);
  assert.ok(Math.abs((await at(40)) - 40) <= 2);
  assert.ok(Math.abs((await at(-40)) + 40) <= 2);
  const blank = readAngle(new Uint8Array(64 * 64 * 3).fill(255), b);
  assert.equal(blank.correlation, -1);
});

Deno.test("metrics: identity, mirror and constant answers", () => {
  const input = Array.from({ length: 50 }, (_, i) => -90 + (180 * i) / 49);
  const same = relationMetrics(input, input);
  assert.equal(same.best, "relation");
  assert.ok(Math.abs(same.relation.r - 1) < 1e-12);
  assert.equal(same.relation.meanError, 0);
  assert.equal(same.relation.within10, 1);
  assert.ok(Math.abs(same.mirror.r + 1) < 1e-12);

  const mirrored = relationMetrics(input, input.map((v) => -v));
  assert.equal(mirrored.best, "mirror");
  assert.ok(Math.abs(mirrored.mirror.r - 1) < 1e-12);
  assert.equal(mirrored.mirror.within10, 1);
  assert.ok(mirrored.relation.within10 < 0.2);

  const constant = relationMetrics(input, input.map(() => 0));
  const meanAbs = input.reduce((s, v) => s + Math.abs(v), 0) / input.length;
  assert.ok(Math.abs(constant.relation.meanError - meanAbs) < 1e-9);
  assert.ok(Math.abs(constant.mirror.meanError - meanAbs) < 1e-9);
  assert.ok(Number.isNaN(constant.relation.r));

  const m = angleMetrics([0, 0, 0, 0], [5, -10, 10.5, 30]);
  assert.equal(m.within10, 0.5);
  assert.equal(m.meanError, 55.5 / 4);
});

async function folderBytes(dir: string): Promise<Uint8Array[]> {
  const files = await listImages(dir);
  return Promise.all(files.map(async (f) => (await decodeImage(f, { size: 64 })).data));
}

// Digests of the decoded pixels: a failed comparison of raw pixel arrays makes
// node:assert build a diff of every value, which takes minutes.
async function folderDigests(dir: string): Promise<string[]> {
  return Promise.all(
    (await folderBytes(dir)).map(async (data) =>
      Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data))))
        .map((b) => b.toString(16).padStart(2, "0")).join("")
    ),
  );
}

Deno.test("the data set: counts, independent angles, determinism by seed, cache", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const opts = { trainCount: 6, testCount: 4, seed: 3 };
    const a = await ensureRotationDataset({ ...opts, root: join(tmp, "a") });
    const b = await ensureRotationDataset({ ...opts, root: join(tmp, "b") });
    const c = await ensureRotationDataset({ ...opts, seed: 4, root: join(tmp, "c") });
    for (const [dir, n] of [[a.trainA, 6], [a.trainB, 6], [a.testA, 4], [a.testB, 4]] as const) {
      assert.equal((await listImages(dir)).length, n, dir);
    }
    assert.equal(a.key, b.key);
    assert.notEqual(a.key, c.key);
    assert.deepEqual(a.testAngles, b.testAngles);
    assert.notDeepEqual(a.testAngles, c.testAngles);
    const smallTrainA = await folderDigests(a.trainA);
    assert.deepEqual(smallTrainA, await folderDigests(b.trainA));
    assert.deepEqual(await folderDigests(a.testB), await folderDigests(b.testB));
    assert.notDeepEqual(await folderDigests(a.trainB), await folderDigests(c.trainB));

    const read = async (dir: string) =>
      JSON.parse(await Deno.readTextFile(join(dir, "angles.json"))) as Record<string, number>;
    const trainA = Object.values(await read(a.trainA));
    const trainB = Object.values(await read(a.trainB));
    assert.notDeepEqual(trainA, trainB); // unpaired: independent angles
    assert.ok([...trainA, ...trainB].every((v) => v >= -90 && v <= 90));
    assert.deepEqual(Object.values(await read(a.testA)), a.testAngles);
    assert.deepEqual(Object.values(await read(a.testB)), a.testAngles);

    // Reused untouched when the key matches; rebuilt when the counts change.
    const marker = join(a.root, ".complete");
    const before = (await Deno.stat(marker)).mtime;
    const again = await ensureRotationDataset({ ...opts, root: a.root });
    assert.equal((await Deno.stat(marker)).mtime?.getTime(), before?.getTime());
    assert.deepEqual(again.testAngles, a.testAngles);
    const bigger = await ensureRotationDataset({ ...opts, trainCount: 8, root: a.root });
    assert.equal((await listImages(bigger.trainA)).length, 8);
    // A larger set starts with the smaller one.
    assert.deepEqual((await folderDigests(bigger.trainA)).slice(0, 6), smallTrainA);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("another icon pair: its own images, templates and key; unknown names refused", async () => {
  const icons = { A: "horse", B: "dog" };
  const tmp = await Deno.makeTempDir();
  try {
    assert.equal(
      (await rotationSettings({})).key,
      (await rotationSettings({ icons: ROTATION_ICONS })).key,
    );
    const own = await ensureRotationDataset({ trainCount: 2, testCount: 3, icons, root: tmp });
    assert.deepEqual(own.settings.icons, icons);
    assert.notEqual(own.key, (await rotationSettings({ trainCount: 2, testCount: 3 })).key);
    assert.match(await Deno.readTextFile(join(tmp, "README.txt")), /"horse".*\n.*"dog"/);
    // testB is the dog at testA's angles, as the dog's own templates read it.
    const dogs = await renderTemplateBank(64, 1, "dog");
    assert.notDeepEqual(dogs.images[90].data, (await templates()).images[90].data);
    const testB = await folderBytes(own.testB);
    testB.forEach((data, i) => {
      assert.ok(Math.abs(angleOf(data, dogs) - own.testAngles[i]) <= 3, `image ${i}`);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  assert.equal(await rotationIconProblem("B", "dog"), undefined);
  assert.match(
    (await rotationIconProblem("A", "hors"))!,
    /no icon "hors" in .*high-contrast.*"horse"/,
  );
  assert.match((await rotationIconProblem("B", "zzqq"))!, /Fluent Emoji names/);
});

Deno.test("testB holds the car at testA's angles, read back by the reader", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const ds = await ensureRotationDataset({ trainCount: 1, testCount: 5, root: tmp });
    const images: RgbImage[] = (await folderBytes(ds.testB)).map((data) => ({ data, size: 64 }));
    const b = await templates();
    images.forEach((im, i) => {
      assert.ok(Math.abs(angleOf(im.data, b) - ds.testAngles[i]) <= 2, `image ${i}`);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("an A image at angle θ has the heading of the car at θ, as the car reader sees it", async () => {
  const heading = await headingOffset();
  // The airplane is drawn about 24° off the car's heading; the data set turns it back.
  assert.ok(Math.abs(heading) >= 10, `the drawings' headings differ by ${heading}°`);
  const bank = await templates();
  const errors = [];
  for (const angle of [-80, -45, -10, 0, 20, 60, 85]) {
    const a = await renderRotated("A", { angle: angle - heading, scale: 1, dx: 0, dy: 0 });
    errors.push(Math.abs(readAngle(a.data, bank).angle - angle));
  }
  errors.sort((p, q) => p - q);
  assert.ok(errors[3] <= 5, `median heading error ${errors[3]}° (${errors})`);
});
