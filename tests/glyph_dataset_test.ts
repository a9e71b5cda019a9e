import assert from "node:assert/strict";
import {
  augmentationFor,
  CLEAN,
  GLYPH_SIZE,
  type GlyphImage,
  glyphScale,
  glyphTemplates,
  LOWERCASE,
  PLAIN_FONT,
  renderGlyph,
  renderGlyphSet,
  SCRIPT_FONT,
  toSignedUnit,
} from "../scripts/glyph_dataset.ts";

const PX = GLYPH_SIZE * GLYPH_SIZE * 3;

/** Mean absolute byte difference of two renders. */
function meanDiff(a: Uint8Array, b: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d / a.length;
}

/** Fraction of pixels darker than mid grey. */
function inkFraction(g: GlyphImage): number {
  let n = 0;
  for (let i = 0; i < g.pixels.length; i += 3) if (g.pixels[i] < 128) n++;
  return n / (g.pixels.length / 3);
}

Deno.test("templates: one clean render per character, black on white, 64x64 RGB", async () => {
  const t = await glyphTemplates(SCRIPT_FONT, LOWERCASE);
  assert.deepEqual([...t.keys()].join(""), LOWERCASE);
  for (const [c, g] of t) {
    assert.equal(g.char, c);
    assert.equal(g.font, SCRIPT_FONT);
    assert.deepEqual(g.augmentation, CLEAN);
    assert.equal(g.size, GLYPH_SIZE);
    assert.equal(g.pixels.length, PX);
    assert.deepEqual([...g.pixels.subarray(0, 3)], [255, 255, 255], `${c}: white corner`);
    const ink = inkFraction(g);
    assert.ok(ink > 0.01 && ink < 0.3, `${c}: ink fraction ${ink}`);
    for (let i = 0; i < g.pixels.length; i += 3) {
      assert.ok(g.pixels[i] === g.pixels[i + 1] && g.pixels[i] === g.pixels[i + 2], "grey");
    }
  }
  // A repeated character still gives one template.
  assert.equal((await glyphTemplates(PLAIN_FONT, "aab")).size, 2);
});

Deno.test("rendering is deterministic; augmentation keys give different draws", async () => {
  const opts = { font: PLAIN_FONT, chars: "ag", count: 3, salt: "train", seed: 7 };
  const [x, y] = await Promise.all([renderGlyphSet(opts), renderGlyphSet(opts)]);
  assert.equal(x.length, 6);
  assert.deepEqual(x.map((g) => g.char).join(""), "aaaggg");
  for (let i = 0; i < x.length; i++) {
    assert.deepEqual(x[i].augmentation, y[i].augmentation);
    assert.deepEqual(x[i].pixels, y[i].pixels);
  }
  assert.notDeepEqual(x[0].pixels, x[1].pixels, "two augmentations of one letter differ");
  const held = await renderGlyphSet({ ...opts, salt: "heldout" });
  assert.notDeepEqual(held[0].augmentation, x[0].augmentation);
  assert.deepEqual(augmentationFor("k"), augmentationFor("k"));
  const a = augmentationFor("train/0/futural/a/0");
  assert.ok(Math.abs(a.dx) <= 3 && Math.abs(a.dy) <= 3);
  assert.ok(a.scale >= 0.9 && a.scale <= 1.1);
  assert.ok(a.strokeWidth >= 1.8 && a.strokeWidth <= 3.2);
});

Deno.test("domain A (plain) and domain B (script) renders differ", async () => {
  const [a, b] = await Promise.all([
    glyphTemplates(PLAIN_FONT, LOWERCASE),
    glyphTemplates(SCRIPT_FONT, LOWERCASE),
  ]);
  for (const c of LOWERCASE) {
    const d = meanDiff(a.get(c)!.pixels, b.get(c)!.pixels);
    assert.ok(d > 5, `${c}: plain and script renders differ by only ${d}`);
  }
  // Different letters of one font differ too.
  assert.ok(meanDiff(a.get("a")!.pixels, a.get("b")!.pixels) > 5);
});

Deno.test("shared scale, explicit renders and [-1, 1] packing", async () => {
  const scale = glyphScale([PLAIN_FONT, SCRIPT_FONT], LOWERCASE);
  assert.ok(Math.abs(scale - (0.82 * 64) / 33) < 1e-9, `scale ${scale}`);
  const pixels = await renderGlyph(PLAIN_FONT, "o", scale);
  assert.equal(pixels.length, PX);
  const packed = toSignedUnit([{
    char: "o",
    font: PLAIN_FONT,
    augmentation: CLEAN,
    size: 64,
    pixels,
  }]);
  assert.equal(packed.length, PX);
  assert.equal(packed[0], 1);
  assert.ok(Math.min(...packed) < -0.9, "black strokes map near -1");
  await assert.rejects(
    renderGlyphSet({ font: "nope", count: 1, salt: "x" }),
    /unknown Hershey font/,
  );
});
