/**
 * Kernels laid over a backend's own: each serves the calls it can and hands
 * the rest to the kernel it covers, which comes back on removal. The OpenBLAS,
 * oneDNN and fast element-wise kernels of the cpu backends are overlays.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Arguments a kernel function receives. */
export interface OverlayKernelArgs {
  /** The input tensors by name. */
  inputs: tf.NamedTensorInfoMap;
  /** The backend instance (the cpu backend's `MathBackendCPU`). */
  backend: unknown;
  /** The kernel's attributes. */
  attrs?: tf.NamedAttrMap;
}

/** An overlay kernel: its result, or null to hand the call to the covered kernel. */
export type OverlayImpl = (args: OverlayKernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

/**
 * A set of kernels over one backend's.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { KernelOverlay } from "./kernel_overlay.ts";
 * await tf.setBackend("cpu");
 * let served = 0;
 * // Serves nothing itself (returns null): every call goes to the stock Neg.
 * const overlay = new KernelOverlay("cpu", { Neg: () => null }, (_, ours) => ours && served++);
 * overlay.install();
 * tf.neg(tf.scalar(2)).print(); // -2
 * overlay.uninstall();
 * ```
 */
export class KernelOverlay {
  readonly #covered = new Map<string, tf.KernelConfig>();

  /**
   * @param backendName the backend whose kernels are covered
   * @param impls the overlay kernels by kernel name
   * @param onCall told of every call: the kernel's name and whether the overlay served it
   */
  constructor(
    readonly backendName: string,
    readonly impls: Readonly<Record<string, OverlayImpl>>,
    readonly onCall?: (name: string, served: boolean) => void,
  ) {}

  /**
   * Lays the kernels over the backend's current ones. Idempotent. When one of
   * them has no kernel to cover, returns false and changes nothing, or with
   * `skipMissing` lays the others.
   */
  install(skipMissing = false): boolean {
    if (this.#covered.size) return true;
    let configs = Object.keys(this.impls).map((n) => tf.getKernel(n, this.backendName));
    if (configs.some((k) => k === undefined)) {
      if (!skipMissing) return false;
      configs = configs.filter((k) => k !== undefined);
    }
    for (const cfg of configs as tf.KernelConfig[]) {
      const name = cfg.kernelName, impl = this.impls[name], covered = cfg.kernelFunc;
      this.#covered.set(name, cfg);
      tf.unregisterKernel(name, this.backendName);
      tf.registerKernel({
        ...cfg,
        kernelFunc: (args) => {
          const out = impl(args as OverlayKernelArgs);
          this.onCall?.(name, out !== null);
          return out ?? covered(args);
        },
      });
    }
    return true;
  }

  /** Puts the covered kernels back. Safe to call when not installed. */
  uninstall(): void {
    for (const [name, cfg] of this.#covered) {
      tf.unregisterKernel(name, this.backendName);
      tf.registerKernel(cfg);
    }
    this.#covered.clear();
  }

  /** Whether the overlay is installed. */
  get installed(): boolean {
    return this.#covered.size > 0;
  }
}
