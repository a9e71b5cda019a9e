// The optional system libraries some tests need. Without one, those tests are
// ignored, each with a line naming the library and its apt package; with
// DISCOGAN_REQUIRE_NATIVE=1 (set by .ci/run, which installs them) they run and
// fail instead, so CI covers every backend.
import { loadOneDnn } from "../ops/runtime/onednn/onednn.ts";
import { loadOpenBlas } from "../ops/runtime/openblas/openblas.ts";
import { gpuAdapterInfo } from "../ops/runtime/backend.ts";

/** A library a test may need. */
export type NativeLibrary = "openblas" | "onednn" | "vulkan";

const WHAT: Record<NativeLibrary, { name: string; packages: string }> = {
  openblas: { name: "OpenBLAS", packages: "libopenblas0-pthread" },
  onednn: { name: "oneDNN 2.x", packages: "libdnnl2" },
  vulkan: { name: "a Vulkan driver (WebGPU adapter)", packages: "mesa-vulkan-drivers libvulkan1" },
};

/** Whether missing libraries fail their tests instead of ignoring them. */
export const REQUIRE_NATIVE: boolean = Deno.env.get("DISCOGAN_REQUIRE_NATIVE") === "1";

const present: Record<NativeLibrary, () => Promise<boolean>> = {
  openblas: () => Promise.resolve(loadOpenBlas() !== null),
  onednn: () => Promise.resolve(loadOneDnn() !== null),
  vulkan: async () => (await gpuAdapterInfo()) !== null,
};

/**
 * Whether the tests named `what` should be ignored for want of `library`:
 * false when it loads or when REQUIRE_NATIVE; otherwise true, after printing
 * `ignored: WHAT needs LIBRARY (apt-get install PACKAGES)`.
 */
export async function missing(library: NativeLibrary, what: string): Promise<boolean> {
  if (REQUIRE_NATIVE || await present[library]()) return false;
  const { name, packages } = WHAT[library];
  console.log(`ignored: ${what} needs ${name} (apt-get install ${packages})`);
  return true;
}
