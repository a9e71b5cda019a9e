/**
 * The four networks of DiscoGAN, built from one configuration, and the
 * registries of the architectures they can have: a new generator or
 * discriminator is its own file plus one entry in {@link GENERATORS} or
 * {@link DISCRIMINATORS}; its name then becomes a choice of `--generator`, with
 * its size rule checked before training.
 * @module
 */
import type { Network } from "./network.ts";
import { OptionError, type OptionTable, resolveOptions } from "./options.ts";
import { checkUNetSize, unetGenerator } from "./unet.ts";
import { checkResNetSize, resnetGenerator } from "./resnet.ts";
import { checkPatchGanSize, patchGanDiscriminator } from "./patchgan.ts";
import { checkPaperSize, paperGenerator, type PaperNorm } from "./paper_generator.ts";
import { paperDiscriminator } from "./paper_discriminator.ts";

/** Which generator architecture to build. */
export type GeneratorKind = "unet" | "resnet" | "paper";

/** Which discriminator architecture to build. */
export type DiscriminatorKind = "patchgan" | "paper";

/** What a network builder is given. */
export interface BuildOptions {
  /** Image channels. */
  channels: number;
  /** Base width (`ngf` or `ndf`). */
  width: number;
  /** Image side the network is built for. */
  imageSize: number;
  /** Residual blocks (ResNet generator). */
  nResidualBlocks: number;
  /** Normalisation (paper networks). */
  norm: PaperNorm;
  /** The 1x1x100 bottleneck (paper generator). */
  bottleneck: boolean;
  /** Initialisation seed. */
  seed: number;
}

/** An architecture: how to build it, and which image sides it can run. */
export interface Architecture {
  /** Builds the network. */
  build(options: BuildOptions): Network;
  /** Throws a RangeError naming the sizes that work, unless `size` works. */
  checkSize(size: number): void;
  /** Whether the network returns its intermediate features (`applyWithFeatures`). */
  features?: boolean;
}

/**
 * The generator architectures, by `--generator` name.
 *
 * @example
 * ```ts
 * import { GENERATORS } from "./discogan.ts";
 * console.log(Object.keys(GENERATORS)); // ["unet", "resnet", "paper"]
 * ```
 */
export const GENERATORS: Readonly<Record<GeneratorKind, Architecture>> = {
  unet: {
    build: (o) => unetGenerator({ channels: o.channels, ngf: o.width, seed: o.seed }),
    checkSize: (size) => checkUNetSize(size, size),
  },
  resnet: {
    build: (o) =>
      resnetGenerator({
        channels: o.channels,
        ngf: o.width,
        nResidualBlocks: o.nResidualBlocks,
        seed: o.seed,
      }),
    checkSize: checkResNetSize,
  },
  paper: {
    build: (o) =>
      paperGenerator({
        channels: o.channels,
        ngf: o.width,
        imageSize: o.imageSize,
        bottleneck: o.bottleneck,
        norm: o.norm,
        seed: o.seed,
      }),
    checkSize: (size) => checkPaperSize(size),
  },
};

/**
 * The discriminator architectures, by `--discriminator` name.
 *
 * @example
 * ```ts
 * import { DISCRIMINATORS } from "./discogan.ts";
 * console.log(Object.keys(DISCRIMINATORS)); // ["patchgan", "paper"]
 * ```
 */
export const DISCRIMINATORS: Readonly<Record<DiscriminatorKind, Architecture>> = {
  patchgan: {
    build: (o) => patchGanDiscriminator({ channels: o.channels, ndf: o.width, seed: o.seed }),
    checkSize: checkPatchGanSize,
  },
  paper: {
    build: (o) =>
      paperDiscriminator({
        channels: o.channels,
        ndf: o.width,
        imageSize: o.imageSize,
        norm: o.norm,
        seed: o.seed,
      }),
    checkSize: (size) => checkPaperSize(size),
    features: true,
  },
};

/** What the four networks look like: the network rows of the options table. */
export interface NetworkOptions {
  /** Image side in pixels (square images). */
  imageSize: number;
  /** Generator architecture. */
  generator: GeneratorKind;
  /** Discriminator architecture. */
  discriminator: DiscriminatorKind;
  /** Normalisation of the paper's networks (the others use instance norm). */
  norm: PaperNorm;
  /** The paper generator's 1x1x100 bottleneck (its angle experiments). */
  bottleneck: boolean;
  /** Generator base width. */
  ngf: number;
  /** Discriminator base width. */
  ndf: number;
  /** Residual blocks of the ResNet generator. */
  nResidualBlocks: number;
  /** Seed of the initialisation (and, in training, of the data order and dropout masks). */
  seed: number;
}

/** {@link NetworkOptions}, any of them, plus the image channels (default 3). */
export interface DiscoGanConfig extends Partial<NetworkOptions> {
  /** Image channels. Default 3. */
  channels?: number;
}

/**
 * The network options: kind, default, range and help of each, declared once.
 *
 * @example
 * ```ts
 * import { NETWORK_OPTIONS } from "./discogan.ts";
 * console.log(NETWORK_OPTIONS.ngf.default); // 16
 * ```
 */
export const NETWORK_OPTIONS: OptionTable<NetworkOptions> = {
  imageSize: {
    kind: "int",
    default: 64,
    min: 1,
    max: 4096,
    help: "image side in pixels (a multiple of 64 for the U-Net)",
    group: "Data",
    check: (size: number, o) => {
      // An unknown architecture is its own row's error.
      if ((o.generator as string) in GENERATORS && (o.discriminator as string) in DISCRIMINATORS) {
        checkImageSize(size, o.generator as GeneratorKind, o.discriminator as DiscriminatorKind);
      }
    },
  },
  generator: {
    kind: "choice",
    default: "unet",
    choices: Object.keys(GENERATORS),
    help: "generator architecture",
    group: "Networks",
  },
  discriminator: {
    kind: "choice",
    default: "patchgan",
    choices: Object.keys(DISCRIMINATORS),
    help: "discriminator architecture",
    group: "Networks",
  },
  norm: {
    kind: "choice",
    default: "batch",
    choices: ["batch", "instance"],
    help: "normalisation of the paper networks",
    group: "Networks",
  },
  bottleneck: {
    kind: "boolean",
    default: false,
    help: "the paper generator's 1x1x100 bottleneck (its angle experiments)",
    group: "Networks",
  },
  ngf: {
    kind: "int",
    default: 16,
    min: 1,
    max: 1024,
    help: "generator base width (64 = the paper's)",
    group: "Networks",
  },
  ndf: {
    kind: "int",
    default: 16,
    min: 1,
    max: 1024,
    help: "discriminator base width (64 = the paper's)",
    group: "Networks",
  },
  nResidualBlocks: {
    kind: "int",
    default: 9,
    min: 0,
    max: 64,
    help: "residual blocks of the ResNet generator",
    group: "Networks",
  },
  seed: {
    kind: "int",
    default: 0,
    min: 0,
    max: 2 ** 31 - 1,
    help: "seed of the initialisation, the data order and dropout",
    group: "Training",
  },
};

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

/** A network's name in files: checkpoints, optimizer state, parameter keys. */
export type RoleName = "g_ab" | "g_ba" | "d_a" | "d_b";

/**
 * The one mapping between the networks' names in code (`gAB`, the paper's
 * G_AB) and in files (`g_ab.safetensors`, `g_ab.final.2.bias`).
 *
 * @example
 * ```ts
 * import { ROLE_NAMES } from "./discogan.ts";
 * console.log(ROLE_NAMES.gAB); // "g_ab"
 * ```
 */
export const ROLE_NAMES: Readonly<Record<keyof DiscoGanModels, RoleName>> = {
  gAB: "g_ab",
  gBA: "g_ba",
  dA: "d_a",
  dB: "d_b",
};

/**
 * The file names of the four networks, in checkpoint order.
 *
 * @example
 * ```ts
 * import { ROLES } from "./discogan.ts";
 * console.log(ROLES); // ["g_ab", "g_ba", "d_a", "d_b"]
 * ```
 */
export const ROLES: readonly RoleName[] = Object.values(ROLE_NAMES);

/**
 * Throws a RangeError naming the sizes that work, unless `size` works for
 * `generator` and `discriminator`.
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
  discriminator: DiscriminatorKind = "patchgan",
): void {
  if (!Number.isInteger(size) || size <= 0) {
    throw new RangeError(`image size ${size} is not a positive whole number of pixels`);
  }
  GENERATORS[generator].checkSize(size);
  DISCRIMINATORS[discriminator].checkSize(size);
}

/**
 * Builds the four networks, with the defaults of {@link NETWORK_OPTIONS} for
 * what `config` leaves out. Each network gets its own initialisation seed
 * derived from `seed`.
 *
 * @example
 * ```ts
 * import { createDiscoGan } from "./discogan.ts";
 * const { gAB, dB } = createDiscoGan({ ngf: 8, ndf: 8 });
 * console.log(gAB.kind, dB.kind); // "unet" "patchgan"
 * ```
 */
export function createDiscoGan(config: DiscoGanConfig = {}): DiscoGanModels {
  const { channels = 3, ...rest } = config;
  let o: NetworkOptions;
  try {
    o = resolveOptions(NETWORK_OPTIONS, rest);
  } catch (e) {
    // A size that does not fit is a RangeError here, as the networks throw it.
    throw e instanceof OptionError && e.cause instanceof RangeError ? e.cause : e;
  }
  if (!Number.isInteger(channels) || channels < 1) {
    throw new OptionError("channels", `expected a whole number >= 1, got ${channels}`);
  }
  const base = o.seed * 10_000;
  const build = (a: Architecture, width: number, seed: number) =>
    a.build({ ...o, channels, width, seed });
  const g = (seed: number) => build(GENERATORS[o.generator], o.ngf, seed);
  const d = (seed: number) => build(DISCRIMINATORS[o.discriminator], o.ndf, seed);
  return { gAB: g(base), gBA: g(base + 1000), dA: d(base + 2000), dB: d(base + 3000) };
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
    for (const v of [...net.params.values(), ...(net.buffers?.values() ?? [])]) {
      v.dispose();
    }
  }
}
