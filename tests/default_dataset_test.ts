import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import {
  type DefaultDataset,
  ensureDefaultDataset,
  isTestName,
} from "../pipeline/default_dataset.ts";

const LIMIT = 24;

function pngNames(dir: string): string[] {
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".png"))
    .map((e) => e.name)
    .sort();
}

/** Mean over pixels of (max channel - min channel), plus the corner pixel. */
async function stats(
  path: string,
): Promise<{ spread: number; corner: number[] }> {
  const { data, info } = await sharp(path).raw().toBuffer({
    resolveWithObject: true,
  });
  assert.equal(info.channels, 3);
  let sum = 0;
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    sum += Math.max(r, g, b) - Math.min(r, g, b);
  }
  return {
    spread: sum / (data.length / 3),
    corner: [data[0], data[1], data[2]],
  };
}

/** The first `n` sorted non-alias, non-hidden names present in both sets. */
async function firstCommonNames(n: number): Promise<string[]> {
  type Icons = { icons: Record<string, { hidden?: boolean }> };
  const [a, b] = await Promise.all([
    import("@iconify-json/fluent-emoji-high-contrast/icons.json", {
      with: { type: "json" },
    }),
    import("@iconify-json/fluent-emoji-flat/icons.json", {
      with: { type: "json" },
    }),
  ]);
  const A = (a.default as unknown as Icons).icons;
  const B = (b.default as unknown as Icons).icons;
  return Object.keys(A)
    .filter((k) => k in B && !A[k].hidden && !B[k].hidden)
    .sort()
    .slice(0, n);
}

function mtime(path: string): number {
  return Deno.statSync(path).mtime!.getTime();
}

Deno.test("isTestName is deterministic and holds out about 10%", () => {
  assert.equal(isTestName("anchor"), isTestName("anchor"));
  let n = 0;
  for (let i = 0; i < 5000; i++) if (isTestName(`emoji-${i}`)) n++;
  assert.ok(n > 350 && n < 650, `held out ${n} of 5000`);
});

Deno.test("ensureDefaultDataset builds, caches and rebuilds", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "default_dataset_test_" });
  const root = join(tmp, "fe");
  let ds!: DefaultDataset;
  try {
    await t.step("builds a limited dataset", async () => {
      const progress: [number, number][] = [];
      ds = await ensureDefaultDataset({
        root,
        limit: LIMIT,
        onProgress: (d, n) => progress.push([d, n]),
      });
      assert.equal(ds.root, root);
      assert.equal(ds.trainA, join(root, "trainA"));
      assert.equal(ds.testB, join(root, "testB"));
      assert.equal(ds.counts.train + ds.counts.test, LIMIT);
      assert.ok(ds.counts.test >= 1 && ds.counts.train >= 1);
      assert.equal(progress.length, LIMIT);
      assert.deepEqual(progress.at(-1), [LIMIT, LIMIT]);
      // No leftover build directories next to the root.
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), ["fe"]);
    });

    await t.step("layout: matching A/B names, split by hash", async () => {
      const trainA = pngNames(ds.trainA), trainB = pngNames(ds.trainB);
      const testA = pngNames(ds.testA), testB = pngNames(ds.testB);
      assert.deepEqual(trainA, trainB);
      assert.deepEqual(testA, testB);
      assert.equal(trainA.length, ds.counts.train);
      assert.equal(testA.length, ds.counts.test);
      for (const f of trainA) assert.ok(!isTestName(f.slice(0, -4)), f);
      for (const f of testA) assert.ok(isTestName(f.slice(0, -4)), f);
      assert.equal(new Set([...trainA, ...testA]).size, LIMIT);
      // limit takes the first names in sorted order.
      const all = [...trainA, ...testA].map((f) => f.slice(0, -4)).sort();
      assert.deepEqual(all, await firstCommonNames(LIMIT));

      const readme = Deno.readTextFileSync(join(root, "README.txt"));
      assert.match(readme, /@iconify-json\/fluent-emoji-high-contrast@\d/);
      assert.match(readme, /@iconify-json\/fluent-emoji-flat@\d/);
      assert.match(readme, /MIT/);
      const marker = JSON.parse(Deno.readTextFileSync(join(root, ".complete")));
      assert.equal(marker.size, 64);
      assert.deepEqual(marker.counts, ds.counts);
      assert.equal(typeof marker.version, "number");
    });

    await t.step(
      "PNGs are 64x64 RGB; A is grey on white, B is coloured",
      async () => {
        const spreadsB: number[] = [];
        for (
          const [dirA, dirB] of [[ds.trainA, ds.trainB], [ds.testA, ds.testB]]
        ) {
          for (const f of pngNames(dirA)) {
            for (const dir of [dirA, dirB]) {
              const meta = await sharp(join(dir, f)).metadata();
              assert.equal(meta.format, "png");
              assert.equal(meta.width, 64);
              assert.equal(meta.height, 64);
              assert.equal(meta.channels, 3, `${dir}/${f}`);
              assert.equal(meta.hasAlpha, false);
            }
            const a = await stats(join(dirA, f));
            assert.ok(a.spread < 2, `A ${f} spread ${a.spread}`);
            for (const c of a.corner) {
              assert.ok(c >= 250, `A ${f} corner ${a.corner}`);
            }
            const b = await stats(join(dirB, f));
            for (const c of b.corner) {
              assert.ok(c >= 250, `B ${f} corner ${b.corner}`);
            }
            spreadsB.push(b.spread);
          }
        }
        assert.ok(
          spreadsB.filter((s) => s > 20).length >= LIMIT / 4,
          `B spreads ${spreadsB.map((s) => s.toFixed(1))}`,
        );
      },
    );

    await t.step("second call is cached and rewrites nothing", async () => {
      const marker = join(root, ".complete");
      const img = join(ds.trainA, pngNames(ds.trainA)[0]);
      const before = [mtime(marker), mtime(img)];
      let calls = 0;
      const t0 = performance.now();
      const again = await ensureDefaultDataset({
        root,
        limit: LIMIT,
        onProgress: () => calls++,
      });
      const ms = performance.now() - t0;
      assert.ok(ms < 500, `cached call took ${ms} ms`);
      assert.deepEqual(again, ds);
      assert.equal(calls, 0);
      assert.deepEqual([mtime(marker), mtime(img)], before);
    });

    await t.step(
      "missing marker and leftover partial dir trigger a rebuild",
      async () => {
        const leftover = `${root}.partial-999999999`;
        await Deno.mkdir(join(leftover, "trainA"), { recursive: true });
        await Deno.writeTextFile(join(leftover, "trainA", "junk.png"), "x");
        await Deno.remove(join(root, ".complete"));
        await Deno.writeTextFile(join(ds.trainA, "junk.png"), "x");
        let calls = 0;
        const rebuilt = await ensureDefaultDataset({
          root,
          limit: LIMIT,
          onProgress: () => calls++,
        });
        assert.equal(calls, LIMIT);
        assert.deepEqual(rebuilt, ds);
        assert.ok(Deno.statSync(join(root, ".complete")).isFile);
        assert.ok(!pngNames(ds.trainA).includes("junk.png"));
        assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), ["fe"]);
      },
    );

    await t.step(
      "stale marker (version or limit) triggers a rebuild",
      async () => {
        const marker = join(root, ".complete");
        const m = JSON.parse(Deno.readTextFileSync(marker));
        Deno.writeTextFileSync(marker, JSON.stringify({ ...m, version: -1 }));
        let calls = 0;
        await ensureDefaultDataset({
          root,
          limit: LIMIT,
          onProgress: () => calls++,
        });
        assert.equal(calls, LIMIT);
        const small = await ensureDefaultDataset({ root, limit: 4 });
        assert.equal(small.counts.train + small.counts.test, 4);
        assert.equal(
          pngNames(small.trainA).length + pngNames(small.testA).length,
          4,
        );
      },
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
