/**
 * Element-wise sums by oneDNN's binary primitive: vectorised and on every
 * thread. Measured here against a JavaScript loop: 14 against 42 µs at 64 Ki
 * floats, 0.10 against 0.40 ms at 576 Ki (a 3x3 filter of 256 to 256
 * channels). The backward pass uses it to add a second gradient into a first
 * (a weight that two passes read, a residual branch).
 * @module
 */
import type { PrimitiveKit, SimplePlan } from "./onednn.ts";

/** The element-wise primitives bound to one oneDNN engine. */
export interface BinaryPrimitives {
  /** `out = a + b`, element by element; `out` may be `a` (in place). Exact: one rounding per sum. */
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
}

// Values from oneDNN 2.x's dnnl_types.h.
const BINARY_ADD = 0x1fff0;
const ARG_SRC_0 = 1, ARG_SRC_1 = 2, ARG_DST = 17;

/**
 * The element-wise primitives on the engine of `kit`, one per length, created
 * on first use and cached.
 *
 * @example
 * ```ts ignore
 * // Inside onednn.ts's open(): `...binaryPrimitives(kit)` joins the binding.
 * ```
 */
export function binaryPrimitives(kit: PrimitiveKit): BinaryPrimitives {
  const plans = new Map<number, SimplePlan>();
  const addPlan = (n: number) => {
    let p = plans.get(n);
    if (p) return p;
    const data = kit.md([n], "x");
    const d = new Uint8Array(8192);
    kit.check(
      kit.lib.dnnl_binary_desc_init(d, BINARY_ADD, data.ptr, data.ptr, data.ptr),
      "binary_desc_init",
    );
    p = kit.plan(kit.primitiveDesc(d, null), [
      [ARG_SRC_0, data],
      [ARG_SRC_1, data],
      [ARG_DST, data],
    ], [data]);
    plans.set(n, p);
    return p;
  };
  return {
    add(a, b, out) {
      if (a.length !== b.length || a.length !== out.length) {
        throw new RangeError(
          `oneDNN add: a has ${a.length} elements, b ${b.length}, out ${out.length}`,
        );
      }
      kit.execute(`add ${a.length}`, addPlan(a.length), [
        [ARG_SRC_0, a, "in"],
        [ARG_SRC_1, b, "in"],
        [ARG_DST, out, "out"],
      ]);
    },
  };
}
