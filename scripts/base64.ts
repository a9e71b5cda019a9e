// Base64 of bytes, for embedding compiled modules in TypeScript sources.
export function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
