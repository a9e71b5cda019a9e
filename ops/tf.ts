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
