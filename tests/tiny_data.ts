// The built-in emoji dataset, cut to a few images, in a fresh temporary
// folder: the data of the tests that train a tiny run end to end.
import { join } from "node:path";
import { type DefaultDataset, ensureDefaultDataset } from "../pipeline/default_dataset.ts";

/** The default dataset with at most `limit` training images per domain, built afresh. */
export async function tinyDataset(limit: number): Promise<DefaultDataset> {
  return ensureDefaultDataset({ root: join(await Deno.makeTempDir(), "emoji"), limit });
}
