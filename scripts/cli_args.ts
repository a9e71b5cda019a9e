// Command-line parsing shared by the scripts: flags to typed values, with
// errors that name the flag.
import { parseArgs } from "node:util";
import { OptionError } from "../pipeline/options.ts";

/**
 * The `--checkpoint` (required) and `--direction` (ab, the default, or ba) of
 * a command that applies a trained generator; an OptionError names the flag.
 */
export function generatorFlags(
  values: Record<string, string | number | boolean | undefined>,
): { checkpoint: string; direction: "ab" | "ba" } {
  if (!values.checkpoint) {
    throw new OptionError("--checkpoint", "required: a run directory or checkpoint");
  }
  const direction = String(values.direction ?? "ab");
  if (direction !== "ab" && direction !== "ba") {
    throw new OptionError("--direction", `expected ab or ba, got "${direction}"`);
  }
  return { checkpoint: String(values.checkpoint), direction };
}

/** How a flag's value is read. */
export type FlagKind = "string" | "number" | "boolean";

/**
 * Parses `args` against `flags` (camelCase name -> kind); `--kebab-case` on the
 * command line. Unknown flags and unparsable numbers throw an OptionError.
 */
export function parseFlags(
  args: string[],
  flags: Record<string, FlagKind>,
): { values: Record<string, string | number | boolean | undefined>; positionals: string[] } {
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [key, kind] of Object.entries(flags)) {
    options[kebab(key)] = { type: kind === "boolean" ? "boolean" : "string" };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
  } catch (e) {
    const m = /'(-[^'\s]+)/.exec((e as Error).message);
    const flag = m?.[1] ?? "arguments";
    if ((e as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const near = nearestFlags(flag, Object.keys(options));
      const hint = near.length ? `; did you mean ${near.map((n) => `--${n}`).join(" or ")}?` : "";
      throw new OptionError(flag, `unknown option${hint} (--help lists every option)`);
    }
    throw new OptionError(flag, `${(e as Error).message}; see --help`);
  }
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const [key, kind] of Object.entries(flags)) {
    const raw = parsed.values[kebab(key)];
    if (raw === undefined) continue;
    if (kind === "number") {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) {
        throw new OptionError(`--${kebab(key)}`, `expected a number, got "${raw}"`);
      }
      values[key] = n;
    } else values[key] = raw as string | boolean;
  }
  return { values, positionals: parsed.positionals };
}

// The known flags within a few edits of an unknown one (typos, a dash or letter
// too many or too few), nearest first.
function nearestFlags(unknown: string, known: string[]): string[] {
  const word = unknown.replace(/^-+/, ""); // node's parser names the flag without its =value
  const most = Math.max(1, Math.floor(word.length / 3));
  return known
    .map((k) => ({ k, d: editDistance(word, k) }))
    .filter(({ d }) => d <= most)
    .sort((x, y) => x.d - y.d)
    .slice(0, 3)
    .map(({ k }) => k);
}

// Levenshtein distance.
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/**
 * For scripts written as top-level code: an {@link OptionError} that nothing
 * catches is printed as `error: --flag: what works` and the process exits with
 * code 2, as `deno task train` does, instead of ending in a stack trace. Call
 * it before the options are read.
 *
 * @example
 * ```ts
 * import { exitOnOptionError, parseFlags } from "./cli_args.ts";
 * exitOnOptionError();
 * parseFlags(["--nope"], {}); // prints "error: --nope: unknown option (--help lists every option)", exits 2
 * ```
 */
export function exitOnOptionError(): void {
  const report = (e: Event, error: unknown) => {
    if (!(error instanceof OptionError)) return;
    e.preventDefault();
    console.error(`error: ${error.message}`);
    Deno.exit(2);
  };
  // A top-level await makes a module's own throw a rejection; both are covered.
  globalThis.addEventListener("unhandledrejection", (e) => report(e, e.reason));
  globalThis.addEventListener("error", (e) => report(e, e.error));
}
