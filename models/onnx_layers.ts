/**
 * The layers of our networks as ONNX nodes (NCHW), in inference mode:
 * dropout is left out and BatchNorm uses its running statistics. Each
 * network's `toOnnx` strings these together in the order of its `apply`.
 * @module
 */
import { float, type OnnxGraph } from "../ops/formats/onnx.ts";
import { INSTANCE_NORM_EPS } from "../ops/instance_norm.ts";
import { BATCH_NORM_EPS } from "../ops/batch_norm.ts";
import type { Variable } from "../ops/tf.ts";
import { torchRecord } from "./weights.ts";
import { param } from "./network.ts";

/** An activation as our networks use them (LeakyReLU's slope is always 0.2). */
export type OnnxActivation = "relu" | "leakyRelu" | "tanh" | "none";

/** How a convolution pads: one count for every side, or [top, left, bottom, right]. */
export type OnnxPads = number | readonly [number, number, number, number];

/**
 * Writes one network's layers into a graph, its parameters as initializers
 * under their PyTorch names (in PyTorch's layout, which is ONNX's).
 *
 * @example
 * ```ts
 * import { OnnxGraph } from "../ops/formats/onnx.ts";
 * import { OnnxLayers } from "./onnx_layers.ts";
 * import { patchGanDiscriminator } from "./patchgan.ts";
 * const d = patchGanDiscriminator({ ndf: 8 });
 * const layers = new OnnxLayers(new OnnxGraph("d"), d.params);
 * const y = layers.activation(layers.conv("image", "model.0", 2, 1), "leakyRelu");
 * ```
 */
export class OnnxLayers {
  /** The graph written to. */
  readonly graph: OnnxGraph;
  readonly #params: Map<string, Variable>;
  readonly #buffers: Map<string, Variable>;

  /** Layers reading parameters (and BatchNorm buffers) by PyTorch name. */
  constructor(
    graph: OnnxGraph,
    params: Map<string, Variable>,
    buffers: Map<string, Variable> = new Map(),
  ) {
    this.graph = graph;
    this.#params = params;
    this.#buffers = buffers;
  }

  #tensor(name: string, from: Map<string, Variable> = this.#params): string {
    const { shape, data } = torchRecord(param(from, name));
    return this.graph.initializer(name, shape, data);
  }

  /** Output channels of a conv (`transpose`: a ConvTranspose2d) named `module`. */
  channels(module: string, transpose = false): number {
    const shape = param(this.#params, `${module}.weight`).shape;
    return shape[transpose ? 2 : 3] as number;
  }

  /** `Conv2d` (4-D weight `module.weight`, bias when the network has one). */
  conv(x: string, module: string, stride: number, pads: OnnxPads): string {
    return this.#conv("Conv", x, module, stride, pads);
  }

  /** `ConvTranspose2d` with PyTorch's `padding` (output side `(h - 1)·stride - 2p + k`). */
  convTranspose(x: string, module: string, stride: number, padding: number): string {
    return this.#conv("ConvTranspose", x, module, stride, padding);
  }

  #conv(op: string, x: string, module: string, stride: number, pads: OnnxPads): string {
    const w = param(this.#params, `${module}.weight`);
    const k = w.shape[0];
    const inputs = [x, this.#tensor(`${module}.weight`)];
    if (this.#params.has(`${module}.bias`)) inputs.push(this.#tensor(`${module}.bias`));
    const [t, l, b, r] = typeof pads === "number" ? [pads, pads, pads, pads] : pads;
    return this.graph.node(op, inputs, {
      kernel_shape: [k as number, w.shape[1] as number],
      strides: [stride, stride],
      pads: [t, l, b, r],
    });
  }

  /** `InstanceNorm2d(affine=False)`: ONNX's op with a scale of ones and a bias of zeros. */
  instanceNorm(x: string, channels: number): string {
    const scale = this.graph.initializer(
      `instance_norm.ones_${channels}`,
      [channels],
      new Float32Array(channels).fill(1),
    );
    const bias = this.graph.initializer(
      `instance_norm.zeros_${channels}`,
      [channels],
      new Float32Array(channels),
    );
    return this.graph.node("InstanceNormalization", [x, scale, bias], {
      epsilon: float(INSTANCE_NORM_EPS),
    });
  }

  /** `BatchNorm2d` in eval mode, on the running statistics of `module`. */
  batchNorm(x: string, module: string): string {
    const inputs = [
      x,
      this.#tensor(`${module}.weight`),
      this.#tensor(`${module}.bias`),
      this.#tensor(`${module}.running_mean`, this.#buffers),
      this.#tensor(`${module}.running_var`, this.#buffers),
    ];
    return this.graph.node("BatchNormalization", inputs, { epsilon: float(BATCH_NORM_EPS) });
  }

  /** ReLU, LeakyReLU(0.2), tanh, or nothing. */
  activation(x: string, activation: OnnxActivation): string {
    switch (activation) {
      case "relu":
        return this.graph.node("Relu", [x]);
      case "leakyRelu":
        return this.graph.node("LeakyRelu", [x], { alpha: float(0.2) });
      case "tanh":
        return this.graph.node("Tanh", [x]);
      default:
        return x;
    }
  }

  /** `ReflectionPad2d(p)` (`mode: "reflect"`) or `ReplicationPad2d(p)` (`"edge"`). */
  pad(x: string, p: number, mode: "reflect" | "edge" = "reflect"): string {
    const pads = this.graph.int64Initializer(`pad.${p}`, [0, 0, p, p, 0, 0, p, p]);
    return this.graph.node("Pad", [x, pads], { mode });
  }

  /** `Upsample(scale_factor=2)`, nearest: output pixel (i, j) is input (⌊i/2⌋, ⌊j/2⌋). */
  upsample2x(x: string): string {
    const scales = this.graph.initializer("upsample.scales", [4], new Float32Array([1, 1, 2, 2]));
    return this.graph.node("Resize", [x, "", scales], {
      mode: "nearest",
      coordinate_transformation_mode: "asymmetric",
      nearest_mode: "floor",
    });
  }

  /** Concatenation along the channels (PyTorch's `torch.cat(…, 1)`). */
  concatChannels(inputs: readonly string[]): string {
    return this.graph.node("Concat", inputs, { axis: 1 });
  }

  /** Element-wise sum (a residual connection). */
  add(a: string, b: string): string {
    return this.graph.node("Add", [a, b]);
  }
}
