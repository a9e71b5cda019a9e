/**
 * Keeping native libraries loaded until the process ends.
 *
 * Each worker isolate (each `deno test` module, for one) opens the native
 * libraries it uses and may close them when it ends. Libraries that start
 * threads (OpenBLAS; libvips under sharp) do not survive being unloaded and
 * loaded again under those threads: we once saw glibc report heap corruption
 * at the exit of a test run. glibc's RTLD_NODELETE keeps a library mapped
 * whatever closes it. Best effort: without glibc or FFI permission, nothing.
 * @module
 */

const RTLD_NOW = 2, RTLD_NOLOAD = 4, RTLD_NODELETE = 0x1000;

function dlopenWithFlags(path: string, flags: number): void {
  const libc = Deno.dlopen("libc.so.6", {
    dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  });
  try {
    // The handle is dropped on purpose: a pinned library is never unloaded.
    libc.symbols.dlopen(new TextEncoder().encode(path + "\0"), flags);
  } finally {
    libc.close();
  }
}

/**
 * Loads `path` (if it is not already) and marks it never to be unloaded.
 *
 * @example
 * ```ts
 * import { pinLibrary } from "./pin_library.ts";
 * pinLibrary("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0");
 * ```
 */
export function pinLibrary(path: string): void {
  try {
    dlopenWithFlags(path, RTLD_NOW | RTLD_NODELETE);
  } catch {
    // not glibc, or no FFI permission
  }
}

/**
 * Marks every library already mapped into this process whose path matches
 * `pattern` never to be unloaded (it loads nothing new). Returns the paths
 * pinned.
 *
 * @example
 * ```ts
 * import { pinLoadedLibraries } from "./pin_library.ts";
 * console.log(pinLoadedLibraries(/sharp|vips/));
 * ```
 */
export function pinLoadedLibraries(pattern: RegExp): string[] {
  let maps: string;
  try {
    maps = Deno.readTextFileSync("/proc/self/maps");
  } catch {
    return [];
  }
  const paths = new Set<string>();
  for (const line of maps.split("\n")) {
    const path = line.slice(line.indexOf("/"));
    if (line.includes("/") && /\.(so|node)(\.|$)/.test(path) && pattern.test(path)) paths.add(path);
  }
  const pinned: string[] = [];
  for (const path of paths) {
    try {
      dlopenWithFlags(path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
      pinned.push(path);
    } catch {
      // no FFI permission, or not glibc
    }
  }
  return pinned;
}
