// Loading the PyTorch parity fixtures (tests/fixtures/parity) as TF.js tensors.
import { fileURLToPath } from "node:url";
import { tf } from "../ops/tf.ts";
import { readSafetensors, type SafetensorsFile } from "../ops/formats/safetensors.ts";
import { loadStateDict } from "../models/weights.ts";
import type { Network } from "../models/network.ts";

/**
 * The fixture folder: $DISCOGAN_FIXTURES, else the repository's
 * tests/fixtures/parity/ (written by its make_fixtures.py).
 */
export const FIXTURES = Deno.env.get("DISCOGAN_FIXTURES") ??
  fileURLToPath(new URL("./fixtures/parity/", import.meta.url));

const cache = new Map<string, Promise<SafetensorsFile>>();

/** Reads one fixture file (cached). */
export function fixture(name: string): Promise<SafetensorsFile> {
  if (!cache.has(name)) {
    cache.set(name, readSafetensors(`${FIXTURES}/${name}.safetensors`));
  }
  return cache.get(name) as Promise<SafetensorsFile>;
}

/** A fixture tensor in TF.js layout: NCHW images become NHWC, conv weights [kh,kw,a,b]. */
export async function tensor(
  file: string,
  name: string,
  layout: "image" | "param" | "plain" = "plain",
): Promise<tf.Tensor> {
  const rec = (await fixture(file)).tensors.get(name);
  if (!rec) throw new Error(`fixture ${file} has no tensor ${name}`);
  const t = tf.tensor(rec.data, rec.shape);
  if (rec.shape.length !== 4 || layout === "plain") return t;
  const out = tf.transpose(t, layout === "image" ? [0, 2, 3, 1] : [2, 3, 1, 0]);
  t.dispose();
  return out;
}

/** Loads a fixture state_dict (g_ab, g_ba, d_a, d_b) into a network. */
export async function loadFixtureWeights(
  net: Network,
  name: string,
): Promise<void> {
  loadStateDict(net, await fixture(name), `${FIXTURES}/${name}.safetensors`);
}

/** Largest absolute value. */
export async function maxAbs(t: tf.Tensor): Promise<number> {
  const m = tf.max(tf.abs(t));
  const v = (await m.data())[0];
  m.dispose();
  return v;
}

/** Largest absolute difference. */
export async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  if (a.shape.join() !== b.shape.join()) {
    throw new Error(`shape mismatch: ${a.shape} vs ${b.shape}`);
  }
  const d = tf.sub(a, b);
  const v = await maxAbs(d);
  d.dispose();
  return v;
}

/** Biases of convolutions followed by InstanceNorm: their true gradient is 0. */
export function isInstanceNormCancelledBias(name: string): boolean {
  return /^(down[2-5]|up[1-5])\.model\.0\.bias$|^model\.[25]\.bias$/.test(name);
}

/** The backends every parity test runs on (CI has no GPU; webgpu has its own test). */
export const CPU_BACKENDS = ["cpu", "blas", "onednn", "wasm"] as const;

/** The four fixture networks: G_AB, G_BA (ngf 6), D_A, D_B (ndf 8), loaded with the fixture init. */
export async function fixtureModels(): Promise<
  import("../models/discogan.ts").DiscoGanModels
> {
  const { createDiscoGan } = await import("../models/discogan.ts");
  const models = createDiscoGan({ ngf: 6, ndf: 8 });
  await loadFixtureWeights(models.gAB, "g_ab");
  await loadFixtureWeights(models.gBA, "g_ba");
  await loadFixtureWeights(models.dA, "d_a");
  await loadFixtureWeights(models.dB, "d_b");
  return models;
}

/** The fixture batch: real_A and real_B as NHWC. */
export async function fixtureBatch(): Promise<
  { realA: tf.Tensor4D; realB: tf.Tensor4D }
> {
  return {
    realA: (await tensor("inputs", "real_A", "image")) as tf.Tensor4D,
    realB: (await tensor("inputs", "real_B", "image")) as tf.Tensor4D,
  };
}

/**
 * The fixture README's check for one updated parameter tensor: at least 99.9%
 * of elements within 1e-6 of PyTorch and all within 2·lr + 1e-6; for
 * InstanceNorm-cancelled biases only |after - init| <= lr + 1e-7. Returns a
 * description of the failure, or null.
 */
export async function checkUpdatedParam(
  name: string,
  after: tf.Tensor,
  ref: tf.Tensor,
  init: tf.Tensor,
  lr: number,
): Promise<string | null> {
  if (isInstanceNormCancelledBias(name.replace(/^[a-z_]+\./, ""))) {
    const moved = await maxAbsDiff(after, init);
    return moved <= lr + 1e-7 ? null : `${name}: moved ${moved} > lr`;
  }
  const diff = tf.abs(tf.sub(after, ref));
  const close = tf.mean(tf.cast(tf.lessEqual(diff, 1e-6), "float32"));
  const [fraction, worst] = [(await close.data())[0], await maxAbs(diff)];
  tf.dispose([diff, close]);
  if (fraction < 0.999) {
    return `${name}: only ${(fraction * 100).toFixed(3)}% within 1e-6`;
  }
  if (worst > 2 * lr + 1e-6) return `${name}: an element is off by ${worst}`;
  return null;
}
