/**
 * The U-Net generator of the spec (PyTorch-GAN's `GeneratorUNet`).
 * @module
 */
import { leakyRelu } from "../ops/leaky_relu.ts";
import { type Tensor4D, tf } from "../ops/tf.ts";
import { conv2d, convTranspose2dUp } from "../ops/conv.ts";
import { instanceNormAct } from "../ops/norm_act.ts";
import { upsampleConv } from "../ops/upsample_conv.ts";
import { type ApplyOptions, type Network, param, ParamBuilder } from "./network.ts";
import { OnnxLayers } from "./onnx_layers.ts";

/** Widths of the U-Net generator. */
export interface UNetOptions {
  /** Image channels (3). */
  channels?: number;
  /** Base width `ngf` (64 = PyTorch-GAN's network). */
  ngf: number;
  /** Initialisation seed. */
  seed?: number;
}

/** A network that can also report its intermediate activations. */
export interface UNetGenerator extends Network {
  /** The forward pass, also returning `act.down1..6` and `act.up1..5` (after the skip concat). */
  applyWithActivations(
    x: Tensor4D,
    options?: ApplyOptions,
  ): { output: Tensor4D; activations: Map<string, Tensor4D> };
}

/** The image side the U-Net needs: six halvings, so a multiple of 64. */
export const UNET_SIZE_MULTIPLE = 64;

// [name, in, out, normalize, dropout] in multiples of ngf (in/out), as the spec.
const DOWN: [string, number, number, boolean, number][] = [
  ["down1", 0, 1, false, 0],
  ["down2", 1, 2, true, 0],
  ["down3", 2, 4, true, 0.5],
  ["down4", 4, 8, true, 0.5],
  ["down5", 8, 8, true, 0.5],
  ["down6", 8, 8, false, 0.5],
];
const UP: [string, number, number, number][] = [
  ["up1", 8, 8, 0.5],
  ["up2", 16, 8, 0.5],
  ["up3", 16, 4, 0.5],
  ["up4", 8, 2, 0],
  ["up5", 4, 1, 0],
];

/**
 * Throws unless `h`×`w` is an image size the U-Net can run.
 *
 * @example
 * ```ts
 * import { checkUNetSize } from "./unet.ts";
 * checkUNetSize(256, 256); // fine; 100x100 would throw
 * ```
 */
export function checkUNetSize(h: number, w: number): void {
  if (
    h % UNET_SIZE_MULTIPLE !== 0 || w % UNET_SIZE_MULTIPLE !== 0 || h === 0 ||
    w === 0
  ) {
    throw new RangeError(
      `image size ${h}x${w} does not work with the U-Net generator: its six halvings need ` +
        `sides that are multiples of ${UNET_SIZE_MULTIPLE} (64, 128, 192, 256, ...)`,
    );
  }
}

/**
 * Builds the U-Net generator: down1..down6, up1..up5, then upsample, pad,
 * conv and tanh. Parameters carry PyTorch-GAN's names (`down1.model.0.weight`,
 * ..., `final.2.bias`).
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { unetGenerator } from "./unet.ts";
 * const g = unetGenerator({ ngf: 8 });
 * console.log(g.apply(tf.zeros([1, 64, 64, 3])).shape); // [1, 64, 64, 3]
 * ```
 */
export function unetGenerator(options: UNetOptions): UNetGenerator {
  const { channels = 3, ngf, seed = 0 } = options;
  const builder = new ParamBuilder("unet", seed);
  for (const [name, cin, cout] of DOWN) {
    builder.conv(
      `${name}.model.0`,
      cin === 0 ? channels : cin * ngf,
      cout * ngf,
      4,
    );
  }
  for (const [name, cin, cout] of UP) {
    builder.convTranspose(`${name}.model.0`, cin * ngf, cout * ngf, 4);
  }
  builder.conv("final.2", 2 * ngf, channels, 4);
  const params = builder.params;
  const p = (name: string) => param(params, name);

  const applyWithActivations = (x: Tensor4D, opts: ApplyOptions = {}) => {
    checkUNetSize(x.shape[1], x.shape[2]);
    let layer = 0;
    const dropout = (t: Tensor4D, rate: number): Tensor4D => {
      layer++;
      if (!opts.training || rate === 0) return t;
      const seed = opts.seed === undefined ? undefined : opts.seed * 16 + layer;
      return tf.dropout(t, rate, undefined, seed) as Tensor4D;
    };
    const activations = new Map<string, Tensor4D>();
    const skips: Tensor4D[] = [];
    let h = x;
    // One scope per level: what the backward pass does not keep (a conv's
    // output once normalised) is freed before the next level runs.
    for (const [name, , , normalize, rate] of DOWN) {
      h = tf.tidy(() => {
        const y = conv2d(h, p(`${name}.model.0.weight`), p(`${name}.model.0.bias`), 2, 1);
        return dropout(
          normalize ? instanceNormAct(y, "leakyRelu", 0.2) : leakyRelu(y, 0.2),
          rate,
        );
      });
      activations.set(`act.${name}`, h);
      skips.push(h);
    }
    skips.pop(); // the bottleneck is not a skip
    for (const [name, , , rate] of UP) {
      h = tf.tidy(() => {
        const u = convTranspose2dUp(h, p(`${name}.model.0.weight`), p(`${name}.model.0.bias`));
        return tf.concat([dropout(instanceNormAct(u, "relu"), rate), skips.pop() as Tensor4D], 3);
      });
      activations.set(`act.${name}`, h);
    }
    // Upsample, ZeroPad2d((1,0,1,0)), Conv2d(k=4, p=1), computed in sub-pixel form.
    const out = tf.tanh(upsampleConv(h, p("final.2.weight"), p("final.2.bias")));
    return { output: out as Tensor4D, activations };
  };

  return {
    kind: "unet",
    params,
    applyWithActivations,
    apply: (x, opts) => tf.tidy(() => applyWithActivations(x, opts).output),
    toOnnx: (graph, input) => {
      const l = new OnnxLayers(graph, params);
      const skips: string[] = [];
      let h = input;
      for (const [name, , , normalize] of DOWN) {
        const module = `${name}.model.0`;
        h = l.conv(h, module, 2, 1);
        if (normalize) h = l.instanceNorm(h, l.channels(module));
        skips.push(h = l.activation(h, "leakyRelu"));
      }
      skips.pop();
      for (const [name] of UP) {
        const module = `${name}.model.0`;
        const u = l.convTranspose(h, module, 2, 1);
        const normalized = l.instanceNorm(u, l.channels(module, true));
        h = l.concatChannels([l.activation(normalized, "relu"), skips.pop() as string]);
      }
      // Upsample, then ZeroPad2d((1, 0, 1, 0)) and the conv's own padding of 1.
      const final = l.conv(l.upsample2x(h), "final.2", 1, [2, 2, 1, 1]);
      return l.activation(final, "tanh");
    },
  };
}
