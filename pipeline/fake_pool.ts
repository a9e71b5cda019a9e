/**
 * A pool of past fakes shown to a discriminator (CycleGAN's image buffer,
 * Shrivastava et al. 2017): until the pool is full each new fake joins it and
 * is shown as is; after, each new fake is shown as is or, with probability
 * 1/2, swapped for a stored fake, which it replaces in the pool. The
 * discriminator so keeps seeing what the generator used to produce, which damps
 * oscillation between the two.
 *
 * The coin flips come from a key (the run's seed, the iteration and the
 * domain), not from a running generator, so a replayed or resumed iteration
 * draws the same; the stored images go into checkpoints ({@link FakePool.images}).
 * @module
 */
import { type Tensor4D, tf } from "../ops/tf.ts";
import { seededRandom } from "./seeded.ts";

/**
 * A pool of at most `capacity` past fakes of one domain.
 *
 * @example
 * ```ts
 * import { tf } from "../ops/tf.ts";
 * import { FakePool } from "./fake_pool.ts";
 * const pool = new FakePool(50);
 * const shown = pool.query(tf.ones([4, 8, 8, 3]) as tf.Tensor4D, "0/pool/a/0");
 * console.log(shown.shape, pool.size); // [4, 8, 8, 3] 4
 * ```
 */
export class FakePool {
  /** The most images the pool holds. */
  readonly capacity: number;
  /** The stored images, each one HWC image's values; for checkpoints. */
  images: Float32Array[] = [];
  /** The shape of one stored image, [H, W, C]; set by the first query or restore. */
  imageShape: [number, number, number] | undefined;

  /**
   * A pool of at most `capacity` images (0: every query returns its input).
   *
   * @example
   * ```ts
   * import { FakePool } from "./fake_pool.ts";
   * console.log(new FakePool(50).capacity); // 50
   * ```
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`pool size must be a whole number >= 0, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /**
   * Images currently stored.
   *
   * @example
   * ```ts
   * import { FakePool } from "./fake_pool.ts";
   * console.log(new FakePool(8).size); // 0
   * ```
   */
  get size(): number {
    return this.images.length;
  }

  /**
   * The images to show the discriminator for the batch `fakes`, a new tensor
   * (or `fakes` itself when the capacity is 0), and the pool updated. `key`
   * seeds the coin flips; give each iteration and domain its own.
   *
   * @example
   * ```ts
   * import { tf } from "../ops/tf.ts";
   * import { FakePool } from "./fake_pool.ts";
   * const pool = new FakePool(1);
   * pool.query(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, "first");
   * // From now on each image is either itself (1) or the stored zeros.
   * pool.query(tf.ones([3, 2, 2, 3]) as tf.Tensor4D, "second").print();
   * ```
   */
  query(fakes: Tensor4D, key: string): Tensor4D {
    if (this.capacity === 0) return fakes;
    const [n, h, w, c] = fakes.shape;
    const shape: [number, number, number] = [h, w, c];
    if (this.imageShape && this.imageShape.join() !== shape.join()) {
      throw new Error(
        `fake pool: images of ${this.imageShape.join("x")} are stored, ` +
          `this batch is ${shape.join("x")}; one pool serves one image size`,
      );
    }
    this.imageShape = shape;
    const per = h * w * c;
    const values = fakes.dataSync() as Float32Array;
    const out = new Float32Array(n * per);
    const random = seededRandom(key);
    for (let i = 0; i < n; i++) {
      const image = values.slice(i * per, (i + 1) * per);
      let shown: Float32Array = image;
      if (this.images.length < this.capacity) {
        this.images.push(image);
      } else if (random() < 0.5) {
        const k = Math.floor(random() * this.capacity);
        shown = this.images[k];
        this.images[k] = image;
      }
      out.set(shown, i * per);
    }
    return tf.tensor4d(out, fakes.shape);
  }

  /**
   * The stored images as one NHWC array, for a checkpoint; undefined when empty.
   *
   * @example
   * ```ts
   * import { FakePool } from "./fake_pool.ts";
   * console.log(new FakePool(4).snapshot()); // undefined
   * ```
   */
  snapshot(): { shape: number[]; data: Float32Array } | undefined {
    if (!this.imageShape || this.images.length === 0) return undefined;
    const per = this.images[0].length;
    const data = new Float32Array(this.images.length * per);
    this.images.forEach((image, i) => data.set(image, i * per));
    return { shape: [this.images.length, ...this.imageShape], data };
  }

  /**
   * Replaces the pool's contents by a {@link FakePool.snapshot}'s (none: empty).
   *
   * @example
   * ```ts
   * import { FakePool } from "./fake_pool.ts";
   * const pool = new FakePool(4);
   * pool.restore({ shape: [1, 2, 2, 3], data: new Float32Array(12) });
   * console.log(pool.size); // 1
   * ```
   */
  restore(saved: { shape: readonly number[]; data: Float32Array } | undefined): void {
    this.images = [];
    this.imageShape = undefined;
    if (!saved) return;
    const [n, h, w, c] = saved.shape;
    if (saved.shape.length !== 4 || n > this.capacity || saved.data.length !== n * h * w * c) {
      throw new Error(
        `fake pool: a saved pool of shape [${saved.shape.join(", ")}] does not fit ` +
          `a pool of ${this.capacity} images`,
      );
    }
    const per = h * w * c;
    for (let i = 0; i < n; i++) this.images.push(saved.data.slice(i * per, (i + 1) * per));
    this.imageShape = [h, w, c];
  }
}
