/**
 * The run's `--precision`, applied once the backend is known: `bf16` has
 * oneDNN's convolutions read bfloat16 (fp32 sums, weights, Adam and losses),
 * so it needs the `onednn` backend. Every entry point that trains (`train`,
 * the learning benchmarks) goes through {@link applyPrecision}, so the option
 * never parses without taking effect.
 * @module
 */
import { OptionError } from "../models/options.ts";
import { type ConvPrecision, setOneDnnPrecision } from "../ops/runtime/onednn/conv_kernels.ts";

/**
 * Sets the convolutions' precision for this process, or throws an
 * {@link OptionError} naming `--precision` when it is not `fp32`/`bf16`, or is
 * `bf16` on a backend other than `onednn`.
 *
 * @example
 * ```ts
 * import { applyPrecision } from "./precision.ts";
 * applyPrecision("fp32", "wasm"); // fp32 runs anywhere
 * try {
 *   applyPrecision("bf16", "wasm");
 * } catch (e) {
 *   console.log((e as Error).message); // "--precision: bf16 needs the onednn backend, ..."
 * }
 * ```
 */
export function applyPrecision(precision: string, backend: string): void {
  if (precision !== "fp32" && precision !== "bf16") {
    throw new OptionError("--precision", `unknown "${precision}": choose fp32 or bf16`);
  }
  if (precision === "bf16" && backend !== "onednn") {
    throw new OptionError(
      "--precision",
      `bf16 needs the onednn backend, and this run's is ${backend}: pass --backend onednn ` +
        "(apt-get install libdnnl2), or leave --precision at fp32",
    );
  }
  setOneDnnPrecision(precision as ConvPrecision);
}
