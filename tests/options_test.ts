// Options are checked before any work, and errors name the option.
import assert from "node:assert/strict";
import { OptionError, resolveTrainOptions, type TrainOptions } from "../pipeline/options.ts";

const script = (name: string) => new URL(`../scripts/${name}`, import.meta.url).pathname;

async function run(name: string, args: string[], cwd: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script(name), ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("every bad option value is refused with the option's name", () => {
  const bad: [Partial<Record<keyof TrainOptions, unknown>>, RegExp][] = [
    [{ batchSize: 0 }, /^--batch-size: expected a whole number from 1 to 4096, got 0$/],
    [{ batchSize: 2.5 }, /^--batch-size/],
    [{ imageSize: 96 }, /^--image-size: .*multiples of 64/],
    [{ loadSize: 32 }, /^--load-size: expected a whole number from 64/],
    [{ iterations: -1 }, /^--iterations/],
    [{ epochs: 0 }, /^--epochs/],
    [{ lr: 0 }, /^--lr: expected a number > 0/],
    [{ lr: Infinity }, /^--lr/],
    [{ beta1: 1 }, /^--beta1/],
    [{ beta2: -0.1 }, /^--beta2/],
    [{ lambdaCycle: -1 }, /^--lambda-cycle/],
    [{ lambdaPixelwise: NaN }, /^--lambda-pixelwise/],
    [{ ganLoss: "wgan" }, /^--gan-loss: expected one of bce, lsgan, hinge, got "wgan"/],
    [{ cycleLoss: "l3" }, /^--cycle-loss/],
    [{ pixelwiseLoss: "x" }, /^--pixelwise-loss/],
    [{ generator: "vit" }, /^--generator: expected one of unet, resnet/],
    [
      { backend: "cuda" },
      /^--backend: expected one of auto, wasm, cpu, blas, onednn, webgpu, tensorflow/,
    ],
    [{ ngf: 0 }, /^--ngf/],
    [{ ndf: 2000 }, /^--ndf/],
    [{ nResidualBlocks: -2 }, /^--n-residual-blocks/],
    [{ seed: -1 }, /^--seed/],
    [{ sampleEvery: 1.5 }, /^--sample-every/],
    [{ checkpointEvery: -5 }, /^--checkpoint-every/],
    [{ keepCheckpoints: 0 }, /^--keep-checkpoints/],
    [{ prefetch: 0 }, /^--prefetch/],
    [{ paired: "p", dataA: "a", dataB: "b" }, /^--paired: cannot be combined/],
    [{ dataA: "a" }, /^--data-b: give both/],
    [{ dataB: "", dataA: "a" }, /^--data-b: expected a path/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => resolveTrainOptions(options as Partial<TrainOptions>),
      (e: Error) => e instanceof OptionError && message.test(e.message),
      JSON.stringify(options),
    );
  }
  const ok = resolveTrainOptions({ imageSize: 128, epochs: 3 });
  assert.equal(ok.loadSize, 128, "load size follows the image size");
  assert.equal(ok.iterations, undefined, "epochs given, so no default iteration count");
});

Deno.test("the CLI refuses bad values before any work, naming the option", async () => {
  const cwd = await Deno.makeTempDir();
  for (
    const [args, message] of [
      [["--batch-size", "abc"], /--batch-size: expected a number, got "abc"/],
      [["--batch-size", "0"], /--batch-size: expected a whole number from 1 to 4096, got 0/],
      [["--image-size", "100"], /--image-size: .*multiples of 64/],
      [["--colour"], /--colour: unknown option \(--help lists every option\)/],
      [["--bach-size", "4"], /--bach-size: unknown option; did you mean --batch-size\?/],
      [["--iteration=5"], /--iteration: unknown option; did you mean --iterations\?/],
      [["--data-a", "nowhere"], /--data-b: give both/],
      [["stray"], /stray: unexpected argument/],
    ] as [string[], RegExp][]
  ) {
    const { code, text } = await run("train.ts", args, cwd);
    assert.equal(code, 2, `${args.join(" ")}: ${text}`);
    assert.match(text, message);
  }
  assert.deepEqual([...Deno.readDirSync(cwd)], [], "nothing was written");
  const help = await run("train.ts", ["--help"], cwd);
  assert.equal(help.code, 0);
  for (
    const flag of [
      "--data-a",
      "--paired",
      "--resume",
      "--gan-loss",
      "--backend",
      "--checkpoint-every",
    ]
  ) {
    assert.match(help.text, new RegExp(flag));
  }
});

Deno.test("the benchmarks refuse bad options as train does: the option named, no stack", async () => {
  const cwd = await Deno.makeTempDir();
  for (
    const [name, args, message] of [
      [
        "eval_glyphs.ts",
        ["--preset", "shape", "--image-size", "32"],
        /^error: --feature-layers: /m,
      ],
      ["eval_glyphs.ts", ["--colour"], /^error: --colour: /m],
      ["eval_glyphs.ts", ["--fonta", "x"], /^error: --fonta: .*did you mean --font-a\?/m],
      [
        "eval_glyphs.ts",
        ["--font-b", "nosuch"],
        /^error: --font-b: unknown Hershey font "nosuch"/m,
      ],
      [
        "eval_glyphs.ts",
        ["--chars", "ab~é"],
        /^error: --chars: font "futural" \(--font-a\) has no glyph for "é"/m,
      ],
      [
        "eval_glyphs.ts",
        ["--chars", "aa"],
        /^error: --chars: needs at least two different letters/m,
      ],
      [
        "eval_rotation.ts",
        ["--icon-b", "hors"],
        /^error: --icon-b: no icon "hors" in @iconify-json\/fluent-emoji-flat .*"horse"/m,
      ],
      ["eval_rotation.ts", ["--icon-a", "nosuch"], /^error: --icon-a: no icon "nosuch" /m],
      ["eval_toy.ts", ["--iterations", "many"], /^error: --iterations: expected a number/m],
    ] as [string, string[], RegExp][]
  ) {
    const { code, text } = await run(name, args, cwd);
    assert.equal(code, 2, `${name} ${args.join(" ")}: ${text}`);
    assert.match(text, message);
    assert.doesNotMatch(text, /^\s+at /m, "no stack trace");
  }
  assert.deepEqual([...Deno.readDirSync(cwd)], [], "nothing was written");
  await Deno.remove(cwd);
});

Deno.test("missing data folders stop the run before training, naming the path", async () => {
  const cwd = await Deno.makeTempDir();
  const { code, text } = await run(
    "train.ts",
    ["--data-a", "nowhere", "--data-b", "nowhere2"],
    cwd,
  );
  assert.equal(code, 1);
  assert.match(text, /nowhere.*does not exist/);
  assert.deepEqual([...Deno.readDirSync(cwd)], [], "no run directory was created");
});

Deno.test("translate refuses a missing checkpoint or direction with the option's name", async () => {
  const cwd = await Deno.makeTempDir();
  let r = await run("translate.ts", ["x.png"], cwd);
  assert.equal(r.code, 2);
  assert.match(r.text, /--checkpoint: required/);
  r = await run("translate.ts", ["--checkpoint", cwd, "--direction", "up", "x.png"], cwd);
  assert.equal(r.code, 2);
  assert.match(r.text, /--direction: expected ab or ba, got "up"/);
  r = await run("translate.ts", ["--checkpoint", cwd, "x.png"], cwd);
  assert.equal(r.code, 1);
  assert.match(r.text, /neither a run directory with checkpoints nor a checkpoint folder/);
});

Deno.test("a preset expands to explicit options, and explicit options override it", () => {
  const paper = resolveTrainOptions({ preset: "paper", batchSize: 16 });
  assert.equal(paper.generator, "paper");
  assert.equal(paper.discriminator, "paper");
  assert.equal(paper.featureMatching, 0.9);
  assert.equal(paper.dUpdateInterval, 3);
  assert.equal(paper.startingRate, 0.01);
  assert.equal(paper.defaultRate, 0.5);
  assert.equal(paper.batchSize, 16, "the explicit option wins");
  const angle = resolveTrainOptions({ preset: "paper-angle" });
  assert.equal(angle.bottleneck, true);
  assert.equal(angle.startingRate, 0.9);
  assert.equal(angle.featureLayers, "3,4");
  // Undefined values (flags not given) do not undo the preset.
  assert.equal(resolveTrainOptions({ preset: "paper", ngf: undefined }).ngf, 64);
  const shape = resolveTrainOptions({ preset: "shape" });
  assert.deepEqual(
    [
      shape.generator,
      shape.discriminator,
      shape.norm,
      shape.featureMatching,
      shape.cycleNoise,
      shape.poolSize,
      shape.lambdaCycle,
    ],
    ["resnet", "paper", "instance", 0.5, 0.2, 50, 10],
  );
  const plain = resolveTrainOptions({ preset: "pytorch-gan" });
  assert.equal(plain.generator, "unet");
  assert.equal(plain.defaultRate, undefined, "no rate: adversarial + lambda·cycle");
  assert.equal(plain.startingRate, undefined);
});

Deno.test("the paper's options are checked and refused with the option's name", () => {
  const bad: [Partial<Record<keyof TrainOptions, unknown>>, RegExp][] = [
    [{ preset: "cyclegan" }, /^--preset: expected one of pytorch-gan, shape, paper, paper-angle/],
    [{ discriminator: "vit" }, /^--discriminator: expected one of patchgan, paper/],
    [
      { featureMatching: 0.5 },
      /^--feature-matching: needs a discriminator that returns its features/,
    ],
    [{ featureMatching: 1.5, discriminator: "paper" }, /^--feature-matching/],
    [{ featureLayers: "1,2" }, /^--feature-layers: expected layer numbers from 2 up/],
    [{ featureLayers: "two" }, /^--feature-layers/],
    [
      { preset: "shape", imageSize: 32 },
      /^--feature-layers: layer 4 does not exist at image size 32: .* layers 2\.\.3 there/,
    ],
    [
      { preset: "paper-angle", imageSize: 16, ngf: 4, ndf: 4 },
      /^--feature-layers: layer 3 does not exist at image size 16/,
    ],
    [{ defaultRate: 2 }, /^--default-rate/],
    [{ ganCurriculum: -1 }, /^--gan-curriculum/],
    [{ dUpdateInterval: 0 }, /^--d-update-interval/],
    [{ weightDecay: -1 }, /^--weight-decay/],
    [{ norm: "group" }, /^--norm: expected one of batch, instance/],
    [
      { generator: "paper", discriminator: "paper", imageSize: 96 },
      /^--image-size: .*power-of-two/,
    ],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => resolveTrainOptions(options as Partial<TrainOptions>),
      (e: Error) => e instanceof OptionError && message.test(e.message),
      JSON.stringify(options),
    );
  }
});

Deno.test("feature layers that a size has are accepted, and any when feature matching is off", () => {
  assert.equal(resolveTrainOptions({ preset: "shape", imageSize: 128 }).featureLayers, "2,3,4");
  const small = { preset: "shape", imageSize: 32, featureLayers: "2,3" } as const;
  assert.equal(resolveTrainOptions(small).featureMatching, 0.5);
  assert.equal(
    resolveTrainOptions({ preset: "shape", imageSize: 32, featureMatching: 0 }).imageSize,
    32,
  );
});

Deno.test("--help lists every option of the table, each line within 100 columns", async () => {
  const { TRAIN_OPTIONS, flagName } = await import("../pipeline/options.ts");
  const help = await run("train.ts", ["--help"], await Deno.makeTempDir());
  for (const [key, row] of Object.entries(TRAIN_OPTIONS)) {
    const flag = row.kind === "boolean" && row.default === true
      ? flagName(key).replace("--", "--no-")
      : flagName(key);
    assert.match(help.text, new RegExp(`^  ${flag}\\b`, "m"), key);
  }
  for (const line of help.text.split("\n")) assert.ok(line.length <= 100, line);
});

Deno.test("a caller's base options sit above the table's defaults and below a preset and flags", () => {
  const base = { flip: false, ngf: 8, iterations: 500 };
  const plain = resolveTrainOptions({ batchSize: 2 }, base);
  assert.deepEqual([plain.flip, plain.ngf, plain.iterations, plain.batchSize], [false, 8, 500, 2]);
  const paper = resolveTrainOptions({ preset: "paper", iterations: 7 }, base);
  assert.equal(paper.ngf, 64, "the preset overrides the base");
  assert.equal(paper.iterations, 7, "a flag overrides both");
  assert.equal(paper.flip, false);
});
