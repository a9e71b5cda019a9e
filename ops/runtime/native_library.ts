/**
 * Finding and opening an optional native library (OpenBLAS, oneDNN): an
 * environment override first, then a list of known paths, collecting why each
 * one failed so the caller can say what to install.
 * @module
 */

/**
 * An environment variable's value; undefined when unset, empty, or when the
 * process may not read the environment (no `--allow-env`).
 *
 * @example
 * ```ts
 * import { readEnv } from "./native_library.ts";
 * console.log(readEnv("DISCOGAN_OPENBLAS") ?? "no override");
 * ```
 */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: just skip the override
  }
}

function mayExist(path: string): boolean {
  if (!path.includes("/")) return true; // bare soname: let the loader search
  try {
    return Deno.statSync(path).isFile;
  } catch (e) {
    // Without --allow-read we cannot stat, but dlopen may still work.
    return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
  }
}

/**
 * Opens the first of `$override` then `paths` that exists and that `open`
 * accepts (`open` throws to refuse one, e.g. a wrong version). Returns the
 * opened library, or null with one error line per path tried. Stops at the
 * first permission error: without `--allow-ffi` every path fails alike.
 *
 * @example
 * ```ts
 * import { openFirstLibrary } from "./native_library.ts";
 * const { library, errors } = openFirstLibrary("MY_LIB", ["/nonexistent/libx.so"], (p) => p);
 * console.log(library, errors); // null []
 * ```
 */
export function openFirstLibrary<T>(
  override: string,
  paths: readonly string[],
  open: (path: string) => T,
): { library: T | null; errors: string[] } {
  const first = readEnv(override);
  const errors: string[] = [];
  for (const path of first ? [first, ...paths] : paths) {
    if (!mayExist(path)) continue;
    try {
      return { library: open(path), errors };
    } catch (e) {
      errors.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) break;
    }
  }
  return { library: null, errors };
}
