/**
 * Waiting for every promise of a group, even when one fails.
 *
 * `Promise.all` rejects at the first failure and leaves the others running.
 * When those are native decodes (sharp), work still running after the caller
 * has returned can outlive the worker isolate that started it, and Deno then
 * calls sharp through a freed function record: a segmentation fault at the
 * end of a test module (issue 12). Every group of decodes is awaited whole.
 * @module
 */

/**
 * Resolves with every value once all have settled, or rejects with the first
 * failure (in the order given), but only after all have settled.
 *
 * @example
 * ```ts
 * import { settleAll } from "./settle_all.ts";
 * const [a, b] = await settleAll([Promise.resolve(1), Promise.resolve(2)]);
 * console.log(a + b); // 3
 * ```
 */
export async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Calls `fn` on every item with at most `concurrency` calls running at once,
 * and resolves with the results in the items' order. After a failure no new
 * call starts; the running ones are awaited (as {@link settleAll} does), then
 * the first failure is thrown.
 *
 * @example
 * ```ts
 * import { mapPool } from "./settle_all.ts";
 * const squares = await mapPool([1, 2, 3], 2, async (n) => n * n);
 * console.log(squares); // [1, 4, 9]
 * ```
 */
export async function mapPool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await settleAll(Array.from({ length: workers }, worker));
  return results;
}
