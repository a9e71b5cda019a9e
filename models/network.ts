/**
 * What every network here is: named variables and a forward function.
 * @module
 */
import { type Tensor4D, tf, type Variable } from "../ops/tf.ts";

/** How a network runs: dropout on while training, off for samples and inference. */
export interface ApplyOptions {
  /** Dropout active (PyTorch's `train()` mode). Default false. */
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
  /** The forward pass. */
  apply(x: Tensor4D, options?: ApplyOptions): Tensor4D;
}

let instances = 0;

/**
 * Creates parameters initialised as PyTorch-GAN: conv weights ~ N(0, 0.02),
 * biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's default, where
 * fan_in is `in·k·k` for a Conv2d and `out·k·k` for a ConvTranspose2d (PyTorch
 * reads dimension 1 of the stored weight).
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
  readonly #prefix: string;
  #seed: number;

  /** `label` names the variables in TF.js; `seed` makes the initialisation reproducible. */
  constructor(label: string, seed: number) {
    this.#prefix = `${label}#${++instances}/`;
    this.#seed = seed;
  }

  /** A `Conv2d(cin, cout, k)`: weight `[k, k, cin, cout]` and bias `[cout]`. */
  conv(name: string, cin: number, cout: number, k: number): void {
    this.#add(name, [k, k, cin, cout], cout, cin * k * k);
  }

  /** A `ConvTranspose2d(cin, cout, k)`: weight `[k, k, cout, cin]` and bias `[cout]`. */
  convTranspose(name: string, cin: number, cout: number, k: number): void {
    this.#add(name, [k, k, cout, cin], cout, cout * k * k);
  }

  #add(name: string, shape: number[], biasSize: number, fanIn: number): void {
    const bound = 1 / Math.sqrt(fanIn);
    // Variables survive tidy; the initial tensors do not leak.
    const w = tf.tidy(() =>
      tf.variable(
        tf.randomNormal(shape, 0, 0.02, "float32", this.#seed++),
        true,
        `${this.#prefix}${name}.weight`,
      )
    );
    const b = tf.tidy(() =>
      tf.variable(
        tf.randomUniform([biasSize], -bound, bound, "float32", this.#seed++),
        true,
        `${this.#prefix}${name}.bias`,
      )
    );
    this.params.set(`${name}.weight`, w);
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
