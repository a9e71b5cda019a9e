/**
 * What every network here is: named variables and a forward function.
 * @module
 */
import { type Tensor4D, tf, type Variable } from "../ops/tf.ts";
import type { OnnxGraph } from "../ops/formats/onnx.ts";

/** How a network runs: dropout on while training, off for samples and inference. */
export interface ApplyOptions {
  /**
   * PyTorch's `train()` mode: dropout active, and BatchNorm on batch
   * statistics with its running ones updated. Default false.
   */
  training?: boolean;
  /** Seed of this call's dropout masks; without it masks are drawn from Math.random. */
  seed?: number;
}

/**
 * A network: parameters named as the PyTorch `state_dict` of the spec, stored
 * in TF.js layout (conv weights `[kh, kw, in, out]`), and its forward pass on
 * NHWC images.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { patchGanDiscriminator } from "./patchgan.ts";
 * const d = patchGanDiscriminator({ ndf: 8 });
 * console.log([...d.params.keys()][0]); // "model.0.weight"
 * console.log(d.apply(tf.zeros([1, 64, 64, 3])).shape); // [1, 8, 8, 1]
 * ```
 */
export interface Network {
  /** What the network is, e.g. "unet" or "patchgan". */
  readonly kind: string;
  /** Parameters by PyTorch name, in insertion (state_dict) order. */
  readonly params: Map<string, Variable>;
  /**
   * Non-trainable state by PyTorch name, such as BatchNorm's `running_mean`,
   * `running_var` and `num_batches_tracked` (the last a float32 scalar here,
   * int64 in PyTorch). Absent for networks without any. Saved and loaded with
   * the parameters, each after its module's parameters as in a `state_dict`.
   */
  readonly buffers?: Map<string, Variable>;
  /** The forward pass. */
  apply(x: Tensor4D, options?: ApplyOptions): Tensor4D;
  /**
   * Writes the inference pass (dropout off, BatchNorm on its running
   * statistics) into an ONNX graph in NCHW layout, from the input named
   * `input`; returns the output's name. Every generator has it, so that
   * `deno task export` can write it (`pipeline/export_onnx.ts`).
   */
  toOnnx?(graph: OnnxGraph, input: string): string;
}

let instances = 0;

/**
 * Creates parameters initialised as PyTorch-GAN: conv weights ~ N(0, 0.02),
 * biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's default, where
 * fan_in is `in·k·k` for a Conv2d and `out·k·k` for a ConvTranspose2d (PyTorch
 * reads dimension 1 of the stored weight). BatchNorm as DCGAN: weight
 * ~ N(1, 0.02), bias 0, running statistics in {@link ParamBuilder.buffers}.
 *
 * @example
 * ```ts
 * import { ParamBuilder } from "./network.ts";
 * const p = new ParamBuilder("D", 0);
 * p.conv("model.0", 3, 8, 4);
 * console.log(p.params.get("model.0.weight")?.shape); // [4, 4, 3, 8]
 * ```
 */
export class ParamBuilder {
  /** The parameters created so far, by PyTorch name. */
  readonly params: Map<string, Variable> = new Map();
  /** The non-trainable buffers created so far (BatchNorm's statistics), by PyTorch name. */
  readonly buffers: Map<string, Variable> = new Map();
  readonly #prefix: string;
  #seed: number;

  // TF.js reads a seed of 0 as "no seed" (Math.random): 0 becomes 0.5, which
  // no integer seed can be.
  #next(): number {
    const seed = this.#seed++;
    return seed === 0 ? 0.5 : seed;
  }

  /** `label` names the variables in TF.js; `seed` makes the initialisation reproducible. */
  constructor(label: string, seed: number) {
    this.#prefix = `${label}#${++instances}/`;
    this.#seed = seed;
  }

  /**
   * A `Conv2d(cin, cout, k)`: weight `[k, k, cin, cout]` and, unless `bias` is
   * false (`bias=False`), bias `[cout]`.
   */
  conv(name: string, cin: number, cout: number, k: number, bias = true): void {
    this.#add(name, [k, k, cin, cout], cout, cin * k * k, bias);
  }

  /**
   * A `ConvTranspose2d(cin, cout, k)`: weight `[k, k, cout, cin]` and, unless
   * `bias` is false (`bias=False`), bias `[cout]`.
   */
  convTranspose(name: string, cin: number, cout: number, k: number, bias = true): void {
    this.#add(name, [k, k, cout, cin], cout, cout * k * k, bias);
  }

  /**
   * A `BatchNorm2d(channels)`: parameters `weight` and `bias` `[channels]`,
   * buffers `running_mean` (0), `running_var` (1) and `num_batches_tracked` (a
   * scalar 0).
   */
  batchNorm(name: string, channels: number): void {
    const variable = (init: () => tf.Tensor, trainable: boolean, key: string) =>
      tf.tidy(() => tf.variable(init(), trainable, `${this.#prefix}${name}.${key}`));
    const seed = this.#next();
    this.params.set(
      `${name}.weight`,
      variable(() => tf.randomNormal([channels], 1, 0.02, "float32", seed), true, "weight"),
    );
    this.params.set(`${name}.bias`, variable(() => tf.zeros([channels]), true, "bias"));
    for (
      const [key, init] of [
        ["running_mean", () => tf.zeros([channels])],
        ["running_var", () => tf.ones([channels])],
        ["num_batches_tracked", () => tf.scalar(0)],
      ] as const
    ) {
      this.buffers.set(`${name}.${key}`, variable(init, false, key));
    }
  }

  #add(name: string, shape: number[], biasSize: number, fanIn: number, bias: boolean): void {
    const bound = 1 / Math.sqrt(fanIn);
    // Variables survive tidy; the initial tensors do not leak.
    const w = tf.tidy(() =>
      tf.variable(
        tf.randomNormal(shape, 0, 0.02, "float32", this.#next()),
        true,
        `${this.#prefix}${name}.weight`,
      )
    );
    this.params.set(`${name}.weight`, w);
    if (!bias) return;
    const b = tf.tidy(() =>
      tf.variable(
        tf.randomUniform([biasSize], -bound, bound, "float32", this.#next()),
        true,
        `${this.#prefix}${name}.bias`,
      )
    );
    this.params.set(`${name}.bias`, b);
  }
}

/**
 * Fetches a parameter that must exist (the networks build their own names).
 *
 * @example
 * ```ts
 * import { param } from "./network.ts";
 * import { patchGanDiscriminator } from "./patchgan.ts";
 * console.log(param(patchGanDiscriminator({ ndf: 8 }).params, "model.9.bias").shape); // [1]
 * ```
 */
export function param(
  params: Map<string, Variable>,
  name: string,
): Variable {
  const p = params.get(name);
  if (!p) throw new Error(`missing parameter "${name}"`);
  return p;
}
