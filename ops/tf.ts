/**
 * The one place the project imports TensorFlow.js from.
 *
 * In Deno, `@tensorflow/tfjs-core` alone registers no gradient functions (its
 * register-all module fails on extensionless imports); the union package does,
 * and it also brings the cpu backend. Every other module imports `tf` from here.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * tf.tidy(() => tf.ones([2]).sum().print());
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

tf.enableProdMode(); // silences the "use tfjs-node" banner of the cpu backend

export { tf };

/** A TF.js tensor. */
export type Tensor = tf.Tensor;
/** A rank-4 (NHWC) TF.js tensor. */
export type Tensor4D = tf.Tensor4D;
/** A rank-0 TF.js tensor. */
export type Scalar = tf.Scalar;
/** A mutable TF.js tensor holding a parameter. */
export type Variable = tf.Variable;
/** A TF.js kernel registration. */
export type KernelConfig = tf.KernelConfig;
