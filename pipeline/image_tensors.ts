/**
 * Images between 8-bit RGB bytes and NHWC tensors in [-1, 1].
 * @module
 */
import { type Tensor4D, tf } from "../ops/tf.ts";

/**
 * Packs decoded `size`×`size` 8-bit RGB images into one NHWC tensor in
 * [-1, 1] (`byte / 127.5 - 1`): the inverse of {@link toBytes}.
 *
 * @example
 * ```ts
 * import { fromBytes } from "./image_tensors.ts";
 * const t = fromBytes([{ data: new Uint8Array(12).fill(255), width: 2, height: 2 }], 2);
 * console.log(t.shape); // [1, 2, 2, 3]
 * ```
 */
export function fromBytes(images: { data: Uint8Array }[], size: number): Tensor4D {
  const pixels = size * size * 3;
  const data = new Float32Array(images.length * pixels);
  images.forEach((img, i) => {
    for (let j = 0; j < pixels; j++) data[i * pixels + j] = img.data[j] / 127.5 - 1;
  });
  return tf.tensor4d(data, [images.length, size, size, 3]);
}

/**
 * Converts NHWC images in [-1, 1] to 8-bit RGB, `(x + 1) · 127.5` rounded and clamped.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { toBytes } from "./image_tensors.ts";
 * console.log(await toBytes(tf.ones([1, 1, 1, 3]) as tf.Tensor4D)); // Uint8Array [255, 255, 255]
 * ```
 */
export async function toBytes(images: Tensor4D): Promise<Uint8Array> {
  const scaled = tf.tidy(() => tf.clipByValue(tf.round(tf.mul(tf.add(images, 1), 127.5)), 0, 255));
  const values = await scaled.data();
  scaled.dispose();
  return Uint8Array.from(values);
}
