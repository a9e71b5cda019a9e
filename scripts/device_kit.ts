// `deno task device:kit`: builds .device-kit/, what a GPU machine without
// network, Deno, npm packages or a Vulkan loader needs to run the webgpu
// checks and the bench there (scripts/device/run.sh, copied in as run.sh):
//
//   run.sh            the checks, in at most 8 minutes: `bash .device-kit/run.sh OUT_DIR`
//   deno.xz           this Deno binary, xz-compressed (kept while the binary is the same:
//                     compressing it takes minutes)
//   payload.tar.xz    check.js, bench_worker.js, webgpu_test.js and train.js: the device
//                     check, the bench's worker, the webgpu parity tests and the trainer,
//                     each bundled with its npm packages (`deno bundle`); node_modules/
//                     with what cannot be bundled (sharp's native addon and libvips, uplot's
//                     files for the report); a deno.json and package.json that resolve them
//                     without a registry; lib/libvulkan.so.1, the Vulkan loader, used when
//                     the machine has none
//   kit.json          what went in: sizes, the commit, the Deno version
//
// The folder is ignored by git and carried to the machine (the `device` tool's
// `carry`, 64 MiB at most): the build fails above 60 MiB.
//
//   deno task device:kit [--out DIR]
import { parseFlags } from "./cli_args.ts";

const MAX_BYTES = 60 * 2 ** 20;
const root = new URL("..", import.meta.url).pathname;
const NPM = `${root}node_modules/.deno`;

/** Bundles: entry point, output, packages left out of the bundle. */
const BUNDLES: [string, string, string[]][] = [
  ["scripts/device/check.ts", "check.js", []],
  ["scripts/bench_worker.ts", "bench_worker.js", []],
  // tests/native.ts imports playwright-core (for Chromium): its bundle reads
  // files beside its sources, so the kit maps it to a stub (deno.json).
  ["tests/webgpu_test.ts", "webgpu_test.js", ["playwright-core"]],
  ["scripts/train.ts", "train.js", ["sharp", "uplot"]],
];

/** Packages copied into the kit's node_modules/: [folder under node_modules/.deno, name]. */
const PACKAGES: [string, string][] = [
  ["sharp@0.34.5", "sharp"],
  ["sharp@0.34.5", "detect-libc"],
  ["sharp@0.34.5", "semver"],
  ["sharp@0.34.5", "@img/colour"],
  ["sharp@0.34.5", "@img/sharp-linux-x64"],
  ["sharp@0.34.5", "@img/sharp-libvips-linux-x64"],
  ["uplot@1.6.32", "uplot"],
];

const STUB =
  `// The device kit has no browser: tests/browser.ts's import of playwright-core lands here.
export const chromium = {
  launch() {
    throw new Error("the device kit carries no playwright-core: browser tests do not run here");
  },
};
`;

async function sh(cmd: string, args: string[], cwd = root): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${text.decode(out.stderr).trim()}`);
  }
  return text.decode(out.stdout);
}

async function size(path: string): Promise<number> {
  return (await Deno.stat(path)).size;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** The Vulkan loader of this machine, or null. */
function vulkanLoader(): string | null {
  for (const dir of [`/usr/lib/${Deno.build.arch}-linux-gnu`, "/usr/lib64", "/usr/lib"]) {
    try {
      return Deno.realPathSync(`${dir}/libvulkan.so.1`);
    } catch {
      // not there
    }
  }
  return null;
}

async function main(): Promise<void> {
  const { values: v } = parseFlags(Deno.args, { out: "string", help: "boolean" });
  if (v.help) {
    console.log("deno task device:kit [--out DIR]   (default .device-kit/)");
    return;
  }
  const out = ((v.out as string | undefined) ?? `${root}.device-kit`).replace(/\/$/, "");
  await Deno.mkdir(out, { recursive: true });
  const t0 = performance.now();
  const log = (s: string) =>
    console.error(`[${((performance.now() - t0) / 1000).toFixed(0)} s] ${s}`);

  // Deno itself: recompressed only when the binary changed.
  const deno = Deno.realPathSync(Deno.execPath());
  const st = await Deno.stat(deno);
  const stamp = `${deno} ${st.size} ${st.mtime?.toISOString()} ${Deno.version.deno}\n`;
  const old = await Deno.readTextFile(`${out}/deno.xz.source`).catch(() => "");
  if (old !== stamp || !(await Deno.stat(`${out}/deno.xz`).catch(() => null))) {
    log(`compressing ${deno} (${mib(st.size)}) with xz -9: a few minutes`);
    await sh("sh", [
      "-c",
      `xz -9 -T0 -c "$0" > "$1.tmp" && mv "$1.tmp" "$1"`,
      deno,
      `${out}/deno.xz`,
    ]);
    await Deno.writeTextFile(`${out}/deno.xz.source`, stamp);
  } else log("deno.xz is up to date");

  // The payload, staged in a temporary folder and packed as one archive.
  const stage = await Deno.makeTempDir({ prefix: "device-kit-" });
  try {
    for (const [entry, file, external] of BUNDLES) {
      log(`bundling ${entry} -> ${file}`);
      await sh(Deno.execPath(), [
        "bundle",
        "--quiet",
        "--platform",
        "deno",
        ...external.flatMap((p) => ["--external", p]),
        "-o",
        `${stage}/${file}`,
        entry,
      ]);
    }
    await Deno.mkdir(`${stage}/stubs`);
    await Deno.writeTextFile(`${stage}/stubs/playwright_core.js`, STUB);
    for (const [from, name] of PACKAGES) {
      const dest = `${stage}/node_modules/${name}`;
      await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
      // -L: node_modules/.deno links packages to each other; the kit needs the files.
      await sh("cp", ["-rL", `${NPM}/${from}/node_modules/${name}`, dest]);
    }
    const deps = Object.fromEntries(
      PACKAGES.filter(([, n]) => n === "sharp" || n === "uplot")
        .map(([from, n]) => [n, from.split("@").pop()]),
    );
    await Deno.writeTextFile(
      `${stage}/package.json`,
      JSON.stringify({ name: "discogan-device-kit", private: true, dependencies: deps }, null, 2),
    );
    // Bundles resolve sharp and uplot from node_modules/ (no registry: "manual"),
    // playwright-core from the stub; no lock file to check against.
    await Deno.writeTextFile(
      `${stage}/deno.json`,
      JSON.stringify(
        {
          nodeModulesDir: "manual",
          lock: false,
          imports: { "playwright-core": "./stubs/playwright_core.js" },
        },
        null,
        2,
      ),
    );
    const loader = vulkanLoader();
    if (loader) {
      await Deno.mkdir(`${stage}/lib`);
      await Deno.copyFile(loader, `${stage}/lib/libvulkan.so.1`);
    } else log("no Vulkan loader on this machine: the kit carries none");
    log("packing payload.tar.xz");
    await sh("sh", [
      "-c",
      `tar -C "$0" -cf - . | xz -6 -T0 > "$1.tmp" && mv "$1.tmp" "$1"`,
      stage,
      `${out}/payload.tar.xz`,
    ]);
    const contents: Record<string, number> = {};
    for (const [, file] of BUNDLES) contents[file] = await size(`${stage}/${file}`);
    contents["node_modules"] = Number(
      (await sh("du", ["-sb", `${stage}/node_modules`])).split(/\s/)[0],
    );
    if (loader) contents["lib/libvulkan.so.1"] = await size(`${stage}/lib/libvulkan.so.1`);

    await Deno.copyFile(`${root}scripts/device/run.sh`, `${out}/run.sh`);
    await Deno.chmod(`${out}/run.sh`, 0o755);
    const commit = (await sh("git", ["rev-parse", "HEAD"]).catch(() => "unknown")).trim();
    const dirty = (await sh("git", ["status", "--porcelain"]).catch(() => "")).trim() !== "";
    const listFiles = async () => {
      const files: Record<string, number> = {};
      for await (const e of Deno.readDir(out)) {
        if (e.isFile) files[e.name] = await size(`${out}/${e.name}`);
      }
      return files;
    };
    await Deno.writeTextFile(
      `${out}/kit.json`,
      JSON.stringify(
        {
          built: new Date().toISOString(),
          commit: dirty ? `${commit} (with uncommitted changes)` : commit,
          deno: Deno.version.deno,
          vulkanLoader: loader,
          files: await listFiles(),
          payloadUncompressed: contents,
        },
        null,
        2,
      ) + "\n",
    );
    const files = await listFiles();
    const total = Object.values(files).reduce((a, b) => a + b, 0);
    console.log(`${out}: ${mib(total)}`);
    for (const [name, bytes] of Object.entries(files).sort()) {
      console.log(`  ${name.padEnd(16)} ${mib(bytes).padStart(10)}`);
    }
    console.log("  payload.tar.xz holds (uncompressed):");
    for (const [name, bytes] of Object.entries(contents)) {
      console.log(`    ${name.padEnd(20)} ${mib(bytes).padStart(10)}`);
    }
    if (total > MAX_BYTES) {
      throw new Error(`the kit is ${mib(total)}, over the ${mib(MAX_BYTES)} it may carry`);
    }
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`device:kit: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
