// The optional system parts some tests need: native libraries, the browser,
// PyTorch and TensorBoard. Without one, those tests are ignored, each with a
// line naming what is missing and how to install it; with
// DISCOGAN_REQUIRE_NATIVE=1 (set by .ci/run, which installs them all) they run
// and fail instead, so CI covers every backend and every real-part check.
import { loadOneDnn } from "../ops/runtime/onednn/onednn.ts";
import { loadOpenBlas } from "../ops/runtime/openblas/openblas.ts";
import { gpuAdapterInfo } from "../ops/runtime/backend.ts";
import { CHROMIUM } from "./browser.ts";

/** A system part a test may need. */
export type NativeLibrary = "openblas" | "onednn" | "vulkan" | "chromium" | "torch" | "tensorboard";

const WHAT: Record<NativeLibrary, { name: string; install: string }> = {
  openblas: { name: "OpenBLAS", install: "apt-get install libopenblas0-pthread" },
  onednn: { name: "oneDNN 2.x", install: "apt-get install libdnnl2" },
  vulkan: {
    name: "a Vulkan driver (WebGPU adapter)",
    install: "apt-get install mesa-vulkan-drivers libvulkan1",
  },
  chromium: { name: `Chromium at ${CHROMIUM}`, install: "apt-get install chromium" },
  torch: { name: "PyTorch for /usr/bin/python3", install: "apt-get install python3-torch" },
  tensorboard: { name: "TensorBoard for python3", install: "python3 -m pip install tensorboard" },
};

async function pythonImports(python: string, module: string): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(python, {
      args: ["-c", `import ${module}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false; // no such interpreter
  }
}

/** Whether missing libraries fail their tests instead of ignoring them. */
export const REQUIRE_NATIVE: boolean = Deno.env.get("DISCOGAN_REQUIRE_NATIVE") === "1";

const present: Record<NativeLibrary, () => Promise<boolean>> = {
  openblas: () => Promise.resolve(loadOpenBlas() !== null),
  onednn: () => Promise.resolve(loadOneDnn() !== null),
  vulkan: async () => (await gpuAdapterInfo()) !== null,
  chromium: () => Deno.stat(CHROMIUM).then((s) => s.isFile, () => false),
  torch: () => pythonImports("/usr/bin/python3", "torch.nn"),
  tensorboard: () =>
    pythonImports("python3", "tensorboard.backend.event_processing.event_accumulator"),
};

/**
 * Whether the tests named `what` should be ignored for want of `library`:
 * false when it loads or when REQUIRE_NATIVE; otherwise true, after printing
 * `ignored: WHAT needs LIBRARY (INSTALL COMMAND)`.
 */
export async function missing(library: NativeLibrary, what: string): Promise<boolean> {
  if (REQUIRE_NATIVE || await present[library]()) return false;
  const { name, install } = WHAT[library];
  console.log(`ignored: ${what} needs ${name} (${install})`);
  return true;
}

const printed = new Set<string>();

/**
 * Whether the tests of `what` on `backend` should be ignored: "blas" needs
 * OpenBLAS, "onednn" oneDNN, "webgpu" a Vulkan driver; the others need
 * nothing. Prints the "ignored" line once per file and library.
 */
export async function backendMissing(backend: string, what: string): Promise<boolean> {
  const library = ({ blas: "openblas", onednn: "onednn", webgpu: "vulkan" } as const)[
    backend as "blas" | "onednn" | "webgpu"
  ];
  if (!library) return false;
  if (REQUIRE_NATIVE) return false;
  const key = `${library} ${what}`;
  if (printed.has(key)) return !(await present[library]());
  printed.add(key);
  return await missing(library, what);
}
