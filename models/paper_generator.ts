/**
 * The generator of the DiscoGAN paper's official code (SKTBrain/DiscoGAN):
 * an encoder-decoder without skip connections, bias-free convolutions,
 * BatchNorm (or InstanceNorm), and optionally a 1x1x100 bottleneck. Also the
 * layer description and stack that `paper_discriminator.ts` shares.
 *
 * Parameter names are those of one PyTorch `nn.Sequential` named `main`
 * (tests/fixtures/paper/make_fixtures.py builds it). At 64 px with BatchNorm,
 * `c` image channels and width `ngf`:
 *
 * | index | module | state_dict entries |
 * |---|---|---|
 * | 0, 1 | Conv2d(c, ngf, 4, 2, 1), LeakyReLU(0.2) | `main.0.weight` |
 * | 2, 3, 4 | Conv2d(ngf, 2ngf), BatchNorm2d, LeakyReLU | `main.2.weight`, `main.3.{weight,bias,running_mean,running_var,num_batches_tracked}` |
 * | 5, 6, 7 | Conv2d(2ngf, 4ngf), BatchNorm2d, LeakyReLU | `main.5.weight`, `main.6.*` |
 * | 8, 9, 10 | Conv2d(4ngf, 8ngf), BatchNorm2d, LeakyReLU | `main.8.weight`, `main.9.*` |
 * | 11, 12, 13 | ConvTranspose2d(8ngf, 4ngf, 4, 2, 1), BatchNorm2d, ReLU | `main.11.weight`, `main.12.*` |
 * | 14, 15, 16 | ConvTranspose2d(4ngf, 2ngf), BatchNorm2d, ReLU | `main.14.weight`, `main.15.*` |
 * | 17, 18, 19 | ConvTranspose2d(2ngf, ngf), BatchNorm2d, ReLU | `main.17.weight`, `main.18.*` |
 * | 20, 21 | ConvTranspose2d(ngf, c), Tanh | `main.20.weight` |
 *
 * With the bottleneck the encoder is followed by Conv2d(8ngf, 100, 4, 1, 0),
 * BatchNorm2d, LeakyReLU (`main.11`, `main.12`, 13) and ConvTranspose2d(100,
 * 8ngf, 4, 1, 0), BatchNorm2d, ReLU (`main.14`, `main.15`, 16), and the
 * decoder starts at `main.17` (its convs at 17, 20, 23, the last, to `c`,
 * at 26, Tanh 27). Each image doubling adds one level to the encoder and
 * the decoder (widths capped at 8·ngf) and shifts the later indices by three.
 * With `norm: "instance"` the norm modules (`InstanceNorm2d(affine=False)`)
 * keep their indices but have no entries: only the conv weights remain.
 * @module
 */
import { leakyRelu } from "../ops/leaky_relu.ts";
import { type Tensor4D, tf, type Variable } from "../ops/tf.ts";
import type { OnnxGraph } from "../ops/formats/onnx.ts";
import { batchNorm2d } from "../ops/batch_norm.ts";
import { instanceNormAct, type NormActivation } from "../ops/norm_act.ts";
import { type ApplyOptions, type Network, param, ParamBuilder } from "./network.ts";
import { OnnxLayers } from "./onnx_layers.ts";

/** The normalisation of the paper's networks: BatchNorm (the paper's) or InstanceNorm. */
export type PaperNorm = "batch" | "instance";

/** The smallest image side the paper's networks take: two halvings down to 4x4. */
export const PAPER_MIN_SIZE = 16;

/** Channels of the optional bottleneck, as the official `extra_layers`. */
export const PAPER_BOTTLENECK = 100;

/**
 * Whether the paper's networks take a square image of side `size`: a power of
 * two from {@link PAPER_MIN_SIZE} up.
 *
 * @example
 * ```ts
 * import { isPaperSize } from "./paper_generator.ts";
 * console.log(isPaperSize(64), isPaperSize(48)); // true false
 * ```
 */
export function isPaperSize(size: number): boolean {
  return Number.isInteger(size) && size >= PAPER_MIN_SIZE && (size & (size - 1)) === 0;
}

/**
 * Throws a RangeError unless `h`×`w` is an image size the paper's networks
 * take: square, a power of two from 16 up, so that the stride-2 encoder ends
 * at 4x4 (where the discriminator's last conv and the bottleneck reduce it to
 * 1x1).
 *
 * @example
 * ```ts
 * import { checkPaperSize } from "./paper_generator.ts";
 * checkPaperSize(64); // fine; 48 or 100 would throw
 * ```
 */
export function checkPaperSize(h: number, w: number = h): void {
  if (!isPaperSize(h) || w !== h) {
    throw new RangeError(
      `image size ${h}x${w} does not work with the paper's networks: their stride-2 ` +
        "convolutions halve the image down to 4x4, so it must be square with a power-of-two " +
        "side of at least 16 (16, 32, 64, 128, 256, 512, ...)",
    );
  }
}

/**
 * The encoder widths at `imageSize`: `base·2^i`, capped at `8·base`, one level
 * per halving down to 4x4 (4 levels at 64 px, 5 at 128, 6 at 256).
 *
 * @example
 * ```ts
 * import { paperWidths } from "./paper_generator.ts";
 * console.log(paperWidths(64, 128)); // [64, 128, 256, 512, 512]
 * ```
 */
export function paperWidths(base: number, imageSize: number): number[] {
  checkPaperSize(imageSize);
  const levels = Math.log2(imageSize) - 2;
  return Array.from({ length: levels }, (_, i) => base * Math.min(2 ** i, 8));
}

/**
 * One layer of the paper's networks: a bias-free 4x4 convolution (or
 * transposed convolution), an optional norm and an activation, which take
 * consecutive indices of the PyTorch `nn.Sequential` from `index` on.
 *
 * @example
 * ```ts
 * import type { PaperLayer } from "./paper_generator.ts";
 * const first: PaperLayer = {
 *   index: 0, cin: 3, cout: 64, transpose: false, stride: 2, normalized: false,
 *   activation: "leakyRelu",
 * };
 * ```
 */
export interface PaperLayer {
  /** `nn.Sequential` index of the convolution; its norm, when any, is the next one. */
  index: number;
  /** Input channels. */
  cin: number;
  /** Output channels. */
  cout: number;
  /** ConvTranspose2d (weight `[4, 4, cout, cin]`) rather than Conv2d (`[4, 4, cin, cout]`). */
  transpose: boolean;
  /** 2: stride 2, padding 1 (halves or doubles H and W); 1: stride 1, padding 0 (4x4 ↔ 1x1). */
  stride: 1 | 2;
  /** Followed by the network's norm. */
  normalized: boolean;
  /** The activation after the norm. */
  activation: "leakyRelu" | "relu" | "tanh" | "none";
}

/** What {@link paperLayers} describes. */
export interface PaperLayersOptions {
  /** "generator" (encoder, bottleneck, decoder) or "discriminator" (encoder, one logit). */
  role: "generator" | "discriminator";
  /** Image channels. */
  channels: number;
  /** Base width (`ngf` or `ndf`). */
  width: number;
  /** Image side (see {@link checkPaperSize}). */
  imageSize: number;
  /** The 1x1x100 bottleneck (generator only). */
  bottleneck?: boolean;
}

/**
 * The layers of a paper network, with their `nn.Sequential` indices. The
 * first `paperWidths(width, imageSize).length` layers are the encoder.
 *
 * @example
 * ```ts
 * import { paperLayers } from "./paper_generator.ts";
 * const d = paperLayers({ role: "discriminator", channels: 3, width: 64, imageSize: 64 });
 * console.log(d.map((l) => l.index)); // [0, 2, 5, 8, 11]
 * ```
 */
export function paperLayers(options: PaperLayersOptions): PaperLayer[] {
  const { role, channels, width, imageSize, bottleneck = false } = options;
  if (bottleneck && role !== "generator") {
    throw new RangeError("only the generator has a bottleneck");
  }
  const widths = paperWidths(width, imageSize);
  const bottom = widths[widths.length - 1];
  const specs: Omit<PaperLayer, "index">[] = [];
  const add = (
    cin: number,
    cout: number,
    transpose: boolean,
    stride: 1 | 2,
    normalized: boolean,
    activation: PaperLayer["activation"],
  ) => specs.push({ cin, cout, transpose, stride, normalized, activation });
  widths.forEach((w, i) => add(i ? widths[i - 1] : channels, w, false, 2, i > 0, "leakyRelu"));
  if (role === "discriminator") {
    add(bottom, 1, false, 1, false, "none");
  } else {
    if (bottleneck) {
      add(bottom, PAPER_BOTTLENECK, false, 1, true, "leakyRelu");
      add(PAPER_BOTTLENECK, bottom, true, 1, true, "relu");
    }
    for (let i = widths.length - 1; i > 0; i--) {
      add(widths[i], widths[i - 1], true, 2, true, "relu");
    }
    add(widths[0], channels, true, 2, false, "tanh");
  }
  let index = 0;
  return specs.map((s) => {
    const layer = { index, ...s };
    index += 1 + (s.normalized ? 1 : 0) + (s.activation === "none" ? 0 : 1);
    return layer;
  });
}

/**
 * A stack of {@link PaperLayer}s with its parameters and BatchNorm buffers.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { paperLayers, paperStack } from "./paper_generator.ts";
 * const layers = paperLayers({ role: "discriminator", channels: 3, width: 8, imageSize: 64 });
 * const stack = paperStack("d", 0, layers, "batch");
 * console.log(stack.run(tf.zeros([2, 64, 64, 3]), false).length); // 5, one per layer
 * ```
 */
export interface PaperStack {
  /** The layers, as {@link paperLayers} describes them. */
  readonly layers: readonly PaperLayer[];
  /** Parameters by PyTorch name, in state_dict order. */
  readonly params: Map<string, Variable>;
  /** BatchNorm buffers by PyTorch name (empty for InstanceNorm). */
  readonly buffers: Map<string, Variable>;
  /**
   * The output of every layer after its activation, the network's output
   * last. `training`: BatchNorm on batch statistics, running ones updated.
   */
  run(x: Tensor4D, training: boolean): Tensor4D[];
  /** The inference pass as ONNX nodes (see `Network.toOnnx`). */
  toOnnx(graph: OnnxGraph, input: string): string;
}

/**
 * Creates the parameters of `layers` (conv weights N(0, 0.02), BatchNorm
 * weight N(1, 0.02) and bias 0, drawn in layer order from `seed`) and their
 * forward pass.
 *
 * @example
 * ```ts
 * import { paperLayers, paperStack } from "./paper_generator.ts";
 * const layers = paperLayers({ role: "generator", channels: 3, width: 8, imageSize: 64 });
 * console.log([...paperStack("g", 0, layers, "batch").params.keys()][1]); // "main.2.weight"
 * ```
 */
export function paperStack(
  label: string,
  seed: number,
  layers: readonly PaperLayer[],
  norm: PaperNorm,
): PaperStack {
  if (norm !== "batch" && norm !== "instance") {
    throw new RangeError(`unknown norm "${norm}": choose "batch" or "instance"`);
  }
  const builder = new ParamBuilder(label, seed);
  for (const l of layers) {
    if (l.transpose) builder.convTranspose(`main.${l.index}`, l.cin, l.cout, 4, false);
    else builder.conv(`main.${l.index}`, l.cin, l.cout, 4, false);
    if (l.normalized && norm === "batch") builder.batchNorm(`main.${l.index + 1}`, l.cout);
  }
  const { params, buffers } = builder;

  const layer = (x: Tensor4D, l: PaperLayer, training: boolean): Tensor4D => {
    const w = param(params, `main.${l.index}.weight`) as tf.Tensor4D;
    const [n, h, wd] = x.shape;
    let y: Tensor4D;
    if (!l.transpose) {
      y = tf.conv2d(x, w, l.stride, l.stride === 2 ? [[0, 0], [1, 1], [1, 1], [0, 0]] : "valid");
    } else if (l.stride === 2) {
      y = tf.conv2dTranspose(x, w, [n, 2 * h, 2 * wd, l.cout], 2, "same");
    } else {
      // Stride 1, no padding, 4x4 kernel: (h - 1) + 4, the bottleneck's 1x1 back to 4x4.
      y = tf.conv2dTranspose(x, w, [n, h + 3, wd + 3, l.cout], 1, "valid");
    }
    if (l.normalized && norm === "instance") {
      // Normalised layers end in ReLU or LeakyReLU (paperLayers).
      return instanceNormAct(y, l.activation as NormActivation, 0.2);
    }
    if (l.normalized) {
      const bn = `main.${l.index + 1}`;
      // Normalised layers end in ReLU or LeakyReLU (paperLayers), fused with the norm.
      return batchNorm2d(
        y,
        param(params, `${bn}.weight`),
        param(params, `${bn}.bias`),
        param(buffers, `${bn}.running_mean`),
        param(buffers, `${bn}.running_var`),
        {
          training,
          numBatchesTracked: param(buffers, `${bn}.num_batches_tracked`),
          activation: l.activation as NormActivation,
          alpha: 0.2,
        },
      );
    }
    switch (l.activation) {
      case "leakyRelu":
        return leakyRelu(y, 0.2);
      case "relu":
        return tf.relu(y);
      case "tanh":
        return tf.tanh(y);
      default:
        return y;
    }
  };

  return {
    layers,
    params,
    buffers,
    run: (x, training) => {
      const outputs: Tensor4D[] = [];
      let h = x;
      // One scope per layer: what its backward pass does not keep (a conv's
      // output once instance-normalised) is freed before the next layer runs.
      for (const l of layers) outputs.push(h = tf.tidy(() => layer(h, l, training)));
      return outputs;
    },
    toOnnx: (graph, input) => {
      const onnx = new OnnxLayers(graph, params, buffers);
      let h = input;
      for (const l of layers) {
        const module = `main.${l.index}`;
        const pad = l.stride === 2 ? 1 : 0;
        h = l.transpose
          ? onnx.convTranspose(h, module, l.stride, pad)
          : onnx.conv(h, module, l.stride, pad);
        if (l.normalized) {
          h = norm === "batch"
            ? onnx.batchNorm(h, `main.${l.index + 1}`)
            : onnx.instanceNorm(h, l.cout);
        }
        h = onnx.activation(h, l.activation);
      }
      return h;
    },
  };
}

/**
 * Throws a RangeError unless `x` is a batch of `size`×`size` images with
 * `channels` channels: a paper network only runs at the size it was built for.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { checkPaperInput } from "./paper_generator.ts";
 * checkPaperInput(tf.zeros([1, 64, 64, 3]), 64, 3); // fine; a 128x128 batch would throw
 * ```
 */
export function checkPaperInput(x: Tensor4D, size: number, channels: number): void {
  const [, h, w, c] = x.shape;
  if (h !== size || w !== size || c !== channels) {
    throw new RangeError(
      `this network was built for ${size}x${size} images with ${channels} channel(s), ` +
        `got ${h}x${w} with ${c}: build it with imageSize ${h} (see checkPaperSize)`,
    );
  }
}

/** Options of {@link paperGenerator}. */
export interface PaperGeneratorOptions {
  /** Image channels (3). */
  channels?: number;
  /** Base width `ngf` (64, the paper's). */
  ngf?: number;
  /** Image side (64, the paper's); see {@link checkPaperSize}. */
  imageSize?: number;
  /**
   * The 1x1x100 bottleneck of the official `extra_layers` (angle experiments).
   * Default false. Works at every size: the encoder always ends at 4x4.
   */
  bottleneck?: boolean;
  /** Normalisation: "batch" (the paper's, default) or "instance". */
  norm?: PaperNorm;
  /** Initialisation seed (0). */
  seed?: number;
}

/** A paper network: its options and BatchNorm buffers beside the {@link Network}. */
export interface PaperNetwork extends Network {
  /** BatchNorm's running statistics (empty with InstanceNorm). */
  readonly buffers: Map<string, Variable>;
  /** The image side it was built for. */
  readonly imageSize: number;
  /** Its normalisation. */
  readonly norm: PaperNorm;
}

/**
 * Builds the paper's generator: stride-2 convs down to 4x4 (LeakyReLU 0.2,
 * no norm on the first), optionally the 1x1x100 bottleneck, transposed convs
 * back up (norm, ReLU), tanh on the last: images in [-1, 1]. No skips.
 * `apply` with `training: true` runs BatchNorm on batch statistics and
 * updates its running buffers once per call; otherwise it uses them. The
 * parameter names are listed in this module's documentation.
 *
 * @throws {RangeError} For an image size {@link checkPaperSize} refuses.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { paperGenerator } from "./paper_generator.ts";
 * const g = paperGenerator({ ngf: 8, bottleneck: true });
 * console.log(g.apply(tf.zeros([2, 64, 64, 3]), { training: true }).shape); // [2, 64, 64, 3]
 * ```
 */
export function paperGenerator(options: PaperGeneratorOptions = {}): PaperNetwork {
  const {
    channels = 3,
    ngf = 64,
    imageSize = 64,
    bottleneck = false,
    norm = "batch",
    seed = 0,
  } = options;
  const layers = paperLayers({ role: "generator", channels, width: ngf, imageSize, bottleneck });
  const stack = paperStack("paper-generator", seed, layers, norm);
  return {
    kind: "paper-generator",
    params: stack.params,
    buffers: stack.buffers,
    imageSize,
    norm,
    apply: (x: Tensor4D, opts: ApplyOptions = {}) => {
      checkPaperInput(x, imageSize, channels);
      return tf.tidy(() => {
        const outputs = stack.run(x, opts.training ?? false);
        return outputs[outputs.length - 1];
      });
    },
    toOnnx: stack.toOnnx,
  };
}
