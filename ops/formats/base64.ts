/**
 * Base64 of bytes: images embedded in HTML pages and reports, compiled
 * modules embedded in TypeScript sources.
 * @module
 */

/**
 * The base64 text of `bytes` (standard alphabet, padded).
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "./base64.ts";
 * console.log(encodeBase64(new Uint8Array([104, 105]))); // "aGk="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  // In slices: one call per 32 KiB rather than one per byte.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
