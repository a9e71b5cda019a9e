/**
 * `Upsample(x2, nearest) -> ZeroPad2d((1,0,1,0)) -> Conv2d(k=4, padding=1)`
 * (the U-Net's final block) computed on the small image: sub-pixel form.
 *
 * Output row 2a+s of the upsampled-then-convolved image only ever reads input
 * rows a-1, a and a+1: for s = 0 the four kernel rows fold into two taps
 * (w0+w1 on row a-1, w2+w3 on row a), for s = 1 into three (w0, w1+w2, w3);
 * columns alike. So one 3x3 convolution of the padded input with the four
 * folded kernels side by side, then an interleave of the four phases, gives
 * the same result without building the 4x larger upsampled tensor and with
 * about half the multiplications. Gradients follow by autodiff.
 * @module
 */
import { type Tensor, type Tensor4D, tf } from "./tf.ts";

// How the 4 kernel taps fold into 3 offsets (-1, 0, +1) for output phase 0 and 1.
const FOLD = [
  [1, 1, 0, 0],
  [0, 0, 1, 1],
  [0, 0, 0, 0],
  [1, 0, 0, 0],
  [0, 1, 1, 0],
  [0, 0, 0, 1],
];

/**
 * The folded kernels: `[3, 3, in, 4·out]`, phases (s, t) = (0,0), (0,1),
 * (1,0), (1,1) one after another along the last axis.
 */
function foldedKernel(w: Tensor): Tensor4D {
  const [, , cin, cout] = w.shape as [number, number, number, number];
  const f = tf.tensor2d(FOLD.flat(), [6, 4]);
  // Rows: [6, 4·cin·cout] = F · w[4, ...]; then columns the same way.
  const rows = tf.reshape(tf.matMul(f, tf.reshape(w, [4, -1])), [6, 4, cin * cout]);
  const cols = tf.matMul(f, tf.reshape(tf.transpose(rows, [1, 0, 2]), [4, -1]));
  // cols[q, (p, c)]: q = column offset of phase t, p = row offset of phase s.
  const k = tf.reshape(cols, [2, 3, 2, 3, cin, cout]); // [t, kw, s, kh, in, out]
  return tf.reshape(tf.transpose(k, [3, 1, 4, 2, 0, 5]), [3, 3, cin, 4 * cout]) as Tensor4D;
}

/**
 * The U-Net's final upsample, pad and 4x4 convolution (with bias), in
 * sub-pixel form. Weight `[4, 4, in, out]` as `tf.conv2d`'s.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { upsampleConv } from "./upsample_conv.ts";
 * const y = upsampleConv(tf.ones([1, 32, 32, 8]) as tf.Tensor4D, tf.ones([4, 4, 8, 3]), tf.zeros([3]));
 * console.log(y.shape); // [1, 64, 64, 3]
 * ```
 */
export function upsampleConv(x: Tensor4D, weight: Tensor, bias: Tensor): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const cout = weight.shape[3] as number;
    const phases = tf.conv2d(x, foldedKernel(weight), 1, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    // [n, h, w, (s, t, c)] -> [n, 2h, 2w, c]: row 2a+s, column 2b+t.
    const split = tf.reshape(phases, [n, h, w, 2, 2, cout]);
    const interleaved = tf.reshape(tf.transpose(split, [0, 1, 3, 2, 4, 5]), [
      n,
      2 * h,
      2 * w,
      cout,
    ]);
    return tf.add(interleaved, bias) as Tensor4D;
  });
}
