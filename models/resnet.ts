/**
 * The CycleGAN-style ResNet generator (PyTorch-GAN's `GeneratorResNet`).
 * @module
 */
import { type Tensor4D, tf } from "../ops/tf.ts";
import { conv2d } from "../ops/conv.ts";
import { instanceNormAct } from "../ops/norm_act.ts";
import { reflectionPad2d } from "../ops/padding.ts";
import { upsampleConv3x3 } from "../ops/upsample_conv.ts";
import { type Network, param, ParamBuilder } from "./network.ts";
import { OnnxLayers } from "./onnx_layers.ts";

/** Widths of the ResNet generator. */
export interface ResNetOptions {
  /** Image channels (3). */
  channels?: number;
  /** Width of the first conv, `ngf` (64). */
  ngf: number;
  /** Residual blocks at the bottleneck (`n_residual_blocks`; CycleGAN's: 9). */
  nResidualBlocks: number;
  /** Initialisation seed. */
  seed?: number;
}

/** The image side the ResNet generator needs: two halvings, so a multiple of 4. */
export const RESNET_SIZE_MULTIPLE = 4;

/**
 * Throws a RangeError unless `h`×`w` is an image size the ResNet generator can run.
 *
 * @example
 * ```ts
 * import { checkResNetSize } from "./resnet.ts";
 * checkResNetSize(36); // fine; 30 would throw
 * ```
 */
export function checkResNetSize(h: number, w: number = h): void {
  if (h % RESNET_SIZE_MULTIPLE || w % RESNET_SIZE_MULTIPLE || h <= 0 || w <= 0) {
    throw new RangeError(
      `image size ${h}x${w} does not work with the ResNet generator: its two halvings need ` +
        `sides that are a multiple of ${RESNET_SIZE_MULTIPLE} (4, 8, 12, 16, ...)`,
    );
  }
}

/**
 * Builds the ResNet generator: ReflectionPad2d(channels) + 7x7 conv, two
 * stride-2 convs, N residual blocks (pad, 3x3 conv, IN, ReLU, pad, 3x3 conv, IN),
 * two nearest upsamplings with 3x3 convs, ReflectionPad2d(channels) + 7x7 conv,
 * tanh. Parameter names follow PyTorch-GAN's `nn.Sequential` indices
 * (`model.1.weight`, `model.10.block.1.weight`, ...).
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { resnetGenerator } from "./resnet.ts";
 * const g = resnetGenerator({ ngf: 8, nResidualBlocks: 2 });
 * console.log(g.apply(tf.zeros([1, 32, 32, 3])).shape); // [1, 32, 32, 3]
 * ```
 */
export function resnetGenerator(options: ResNetOptions): Network {
  const { channels = 3, ngf, nResidualBlocks, seed = 0 } = options;
  const n = nResidualBlocks;
  const b = new ParamBuilder("resnet", seed);
  b.conv("model.1", channels, ngf, 7);
  b.conv("model.4", ngf, 2 * ngf, 3);
  b.conv("model.7", 2 * ngf, 4 * ngf, 3);
  for (let i = 0; i < n; i++) {
    b.conv(`model.${10 + i}.block.1`, 4 * ngf, 4 * ngf, 3);
    b.conv(`model.${10 + i}.block.5`, 4 * ngf, 4 * ngf, 3);
  }
  b.conv(`model.${11 + n}`, 4 * ngf, 2 * ngf, 3);
  b.conv(`model.${15 + n}`, 2 * ngf, ngf, 3);
  b.conv(`model.${19 + n}`, ngf, channels, 7);
  const params = b.params;
  const c = (x: Tensor4D, name: string, stride: number, pad: number) =>
    conv2d(
      x,
      param(params, `${name}.weight`),
      param(params, `${name}.bias`),
      stride,
      pad,
    );
  const inRelu = (x: Tensor4D) => instanceNormAct(x, "relu");

  return {
    kind: "resnet",
    params,
    apply: (x) =>
      tf.tidy(() => {
        checkResNetSize(x.shape[1], x.shape[2]);
        let y = tf.tidy(() => inRelu(c(reflectionPad2d(x, channels), "model.1", 1, 0)));
        // Each layer in its own scope, and its input freed once read: what no
        // gradient keeps (a conv's output once normalised, an activation once
        // padded) goes as the forward pass goes, not at its end.
        const next = (layer: (y: Tensor4D) => Tensor4D) => {
          const out = tf.tidy(() => layer(y));
          y.dispose();
          y = out;
        };
        next((y) => inRelu(c(y, "model.4", 2, 1)));
        next((y) => inRelu(c(y, "model.7", 2, 1)));
        for (let i = 0; i < n; i++) {
          const pre = `model.${10 + i}.block`;
          next((y) => {
            const r = inRelu(c(reflectionPad2d(y, 1), `${pre}.1`, 1, 0));
            return tf.add(y, instanceNormAct(c(reflectionPad2d(r, 1), `${pre}.5`, 1, 0), "none"));
          });
        }
        const up = (y: Tensor4D, name: string) =>
          inRelu(
            upsampleConv3x3(y, param(params, `${name}.weight`), param(params, `${name}.bias`)),
          );
        next((y) => up(y, `model.${11 + n}`));
        next((y) => up(y, `model.${15 + n}`));
        return tf.tanh(c(reflectionPad2d(y, channels), `model.${19 + n}`, 1, 0));
      }),
    toOnnx: (graph, input) => {
      const l = new OnnxLayers(graph, params);
      const convIn = (x: string, module: string, stride: number, pad: number) =>
        l.instanceNorm(l.conv(x, module, stride, pad), l.channels(module));
      const inRelu = (x: string, module: string, stride: number, pad: number) =>
        l.activation(convIn(x, module, stride, pad), "relu");
      let y = inRelu(l.pad(input, channels), "model.1", 1, 0);
      y = inRelu(y, "model.4", 2, 1);
      y = inRelu(y, "model.7", 2, 1);
      for (let i = 0; i < n; i++) {
        const pre = `model.${10 + i}.block`;
        const r = inRelu(l.pad(y, 1), `${pre}.1`, 1, 0);
        y = l.add(y, convIn(l.pad(r, 1), `${pre}.5`, 1, 0));
      }
      y = inRelu(l.upsample2x(y), `model.${11 + n}`, 1, 1);
      y = inRelu(l.upsample2x(y), `model.${15 + n}`, 1, 1);
      return l.activation(l.conv(l.pad(y, channels), `model.${19 + n}`, 1, 0), "tanh");
    },
  };
}
