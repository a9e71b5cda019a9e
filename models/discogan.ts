/**
 * The four networks of DiscoGAN, built from one configuration.
 * @module
 */
import type { Network } from "./network.ts";
import { checkUNetSize, unetGenerator } from "./unet.ts";
import { resnetGenerator } from "./resnet.ts";
import { patchGanDiscriminator } from "./patchgan.ts";

/** Which generator architecture to build. */
export type GeneratorKind = "unet" | "resnet";

/** What the four networks look like. */
export interface DiscoGanConfig {
  /** Image side in pixels (square images); U-Net: a multiple of 64. Default 64. */
  imageSize?: number;
  /** Image channels. Default 3. */
  channels?: number;
  /** Generator architecture. Default "unet". */
  generator?: GeneratorKind;
  /** Generator base width. Default 64. */
  ngf?: number;
  /** Discriminator base width. Default 64. */
  ndf?: number;
  /** Residual blocks of the ResNet generator. Default 9. */
  nResidualBlocks?: number;
  /** Initialisation seed. Default 0. */
  seed?: number;
}

/** G_AB, G_BA, D_A and D_B. */
export interface DiscoGanModels {
  /** Translates A images into B. */
  gAB: Network;
  /** Translates B images into A. */
  gBA: Network;
  /** Tells real A images from fakes. */
  dA: Network;
  /** Tells real B images from fakes. */
  dB: Network;
}

/** The role names used for parameters in checkpoints and optimizer state. */
export const ROLES = ["g_ab", "g_ba", "d_a", "d_b"] as const;

/**
 * Throws a RangeError naming the sizes that work, unless `size` works for `generator`.
 *
 * @example
 * ```ts
 * import { checkImageSize } from "./discogan.ts";
 * checkImageSize(128); // fine
 * checkImageSize(96); // throws: "... multiples of 64 (64, 128, 192, 256, ...)"
 * ```
 */
export function checkImageSize(
  size: number,
  generator: GeneratorKind = "unet",
): void {
  if (!Number.isInteger(size) || size <= 0) {
    throw new RangeError(
      `image size ${size} is not a positive whole number of pixels`,
    );
  }
  if (generator === "unet") checkUNetSize(size, size);
  else if (size % 8 !== 0) {
    throw new RangeError(
      `image size ${size} does not work with the ResNet generator and PatchGAN: use a multiple of 8 (32, 64, 128, ...)`,
    );
  }
}

/**
 * Builds the four networks. Each gets its own initialisation seed derived
 * from `seed`.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "./discogan.ts";
 * const { gAB, dB } = createDiscoGan({ ngf: 8, ndf: 8 });
 * console.log(gAB.kind, dB.kind); // "unet" "patchgan"
 * ```
 */
export function createDiscoGan(config: DiscoGanConfig = {}): DiscoGanModels {
  const {
    imageSize = 64,
    channels = 3,
    generator = "unet",
    ngf = 64,
    ndf = 64,
  } = config;
  const { nResidualBlocks = 9, seed = 0 } = config;
  checkImageSize(imageSize, generator);
  const base = seed * 10_000;
  const g = (s: number) =>
    generator === "unet"
      ? unetGenerator({ channels, ngf, seed: s })
      : resnetGenerator({ channels, ngf, nResidualBlocks, seed: s });
  const d = (s: number) => patchGanDiscriminator({ channels, ndf, seed: s });
  return {
    gAB: g(base),
    gBA: g(base + 1000),
    dA: d(base + 2000),
    dB: d(base + 3000),
  };
}

/**
 * Releases every parameter of the four networks.
 *
 * @example
 * ```ts
 * import { createDiscoGan, disposeDiscoGan } from "./discogan.ts";
 * const models = createDiscoGan({ ngf: 4, ndf: 4 });
 * disposeDiscoGan(models);
 * ```
 */
export function disposeDiscoGan(models: DiscoGanModels): void {
  for (const net of Object.values(models)) {
    for (const v of net.params.values()) {
      v.dispose();
    }
  }
}
