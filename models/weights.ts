/**
 * Network weights as PyTorch `state_dict`s in safetensors files: the names of
 * the spec and PyTorch's layouts, so weights move both ways between this
 * project and PyTorch-GAN (`load_state_dict`).
 * @module
 */
import { tf, type Variable } from "../ops/tf.ts";
import {
  checkTensorSet,
  readSafetensors,
  type SafetensorsFile,
  type TensorRecord,
  writeSafetensors,
} from "../ops/formats/safetensors.ts";
import type { Network } from "./network.ts";

// TF.js conv filters are [kh, kw, a, b]; PyTorch stores [b, a, kh, kw] for
// Conv2d ([out, in, ...]) and ConvTranspose2d ([in, out, ...]) alike.
const TO_TORCH = [3, 2, 0, 1];
const FROM_TORCH = [2, 3, 1, 0];

/**
 * The PyTorch shape of a parameter stored with TF.js shape `shape`.
 *
 * @example
 * ```ts
 * import { torchShape } from "./weights.ts";
 * console.log(torchShape([4, 4, 3, 64])); // [64, 3, 4, 4]
 * ```
 */
export function torchShape(shape: readonly number[]): number[] {
  return shape.length === 4 ? TO_TORCH.map((i) => shape[i]) : [...shape];
}

/**
 * One parameter or buffer in PyTorch layout (conv weights transposed), read
 * synchronously.
 *
 * @example
 * ```ts
 * import { patchGanDiscriminator } from "./patchgan.ts";
 * import { torchRecord } from "./weights.ts";
 * const w = patchGanDiscriminator({ ndf: 8 }).params.get("model.0.weight");
 * if (w) console.log(torchRecord(w).shape); // [8, 3, 4, 4]
 * ```
 */
export function torchRecord(v: Variable): TensorRecord {
  if (v.rank !== 4) return { shape: [...v.shape], data: v.dataSync() as Float32Array };
  const t = tf.transpose(v, TO_TORCH);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return { shape: torchShape(v.shape), data };
}

// A state_dict lists each module's parameters, then its buffers: a buffer goes
// after the last entry of its module (its name up to the last dot).
function stateEntries(net: Network): [string, Variable][] {
  const entries: [string, Variable][] = [...net.params];
  const moduleOf = (name: string) => name.slice(0, name.lastIndexOf("."));
  for (const [name, v] of net.buffers ?? []) {
    const module = moduleOf(name);
    let at = entries.length;
    for (let i = entries.length - 1; i >= 0; i--) {
      if (moduleOf(entries[i][0]) === module) {
        at = i + 1;
        break;
      }
    }
    entries.splice(at, 0, [name, v]);
  }
  return entries;
}

/**
 * Reads a network's parameters and buffers in PyTorch layout, by PyTorch
 * name, in `state_dict` order.
 *
 * @example
 * ```ts
 * import { patchGanDiscriminator } from "./patchgan.ts";
 * import { stateDict } from "./weights.ts";
 * const sd = await stateDict(patchGanDiscriminator({ ndf: 8 }));
 * console.log(sd.get("model.0.weight")?.shape); // [8, 3, 4, 4]
 * ```
 */
export async function stateDict(
  net: Network,
): Promise<Map<string, TensorRecord>> {
  const out = new Map<string, TensorRecord>();
  for (const [name, v] of stateEntries(net)) {
    const t = v.rank === 4 ? tf.transpose(v, TO_TORCH) : v;
    out.set(name, {
      shape: torchShape(v.shape),
      data: (await t.data()) as Float32Array,
    });
    if (t !== v) t.dispose();
  }
  return out;
}

/**
 * Sets a network's parameters and buffers from PyTorch-layout tensors. Every
 * name of the network must be present with its exact shape and nothing else
 * may be: the error names `source` and lists what differs.
 *
 * @example
 * ```ts
 * import { patchGanDiscriminator } from "./patchgan.ts";
 * import { loadStateDict, stateDict } from "./weights.ts";
 * const a = patchGanDiscriminator({ ndf: 8 }), b = patchGanDiscriminator({ ndf: 8, seed: 7 });
 * loadStateDict(b, { tensors: await stateDict(a), metadata: {} }, "a");
 * ```
 */
export function loadStateDict(
  net: Network,
  file: SafetensorsFile,
  source: string,
): void {
  const entries = stateEntries(net);
  const expected = new Map(
    entries.map(([n, v]) => [n, torchShape(v.shape)]),
  );
  checkTensorSet(file, expected, source);
  tf.tidy(() => {
    for (const [name, v] of entries) {
      const rec = file.tensors.get(name) as TensorRecord;
      const t = tf.tensor(rec.data, rec.shape);
      v.assign(v.rank === 4 ? tf.transpose(t, FROM_TORCH) : t);
    }
  });
}

/**
 * Writes a network as a safetensors state_dict (atomically).
 *
 * @example
 * ```ts
 * import { unetGenerator } from "./unet.ts";
 * import { saveNetwork } from "./weights.ts";
 * await saveNetwork("/tmp/g_ab.safetensors", unetGenerator({ ngf: 8 }));
 * ```
 */
export async function saveNetwork(
  path: string,
  net: Network,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeSafetensors(path, await stateDict(net), {
    format: "pt",
    kind: net.kind,
    ...metadata,
  });
}

/**
 * Loads a safetensors state_dict into a network, with the checks of
 * {@link loadStateDict}.
 *
 * @example
 * ```ts
 * import { unetGenerator } from "./unet.ts";
 * import { loadNetwork, saveNetwork } from "./weights.ts";
 * await saveNetwork("/tmp/g.safetensors", unetGenerator({ ngf: 8 }));
 * await loadNetwork("/tmp/g.safetensors", unetGenerator({ ngf: 8, seed: 3 }));
 * ```
 */
export async function loadNetwork(path: string, net: Network): Promise<void> {
  loadStateDict(net, await readSafetensors(path), path);
}
