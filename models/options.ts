/**
 * Option tables: each option declared once, as a row (kind, default, range or
 * choices, help), from which defaults, validation, command-line flags and
 * `--help` follow. Each layer declares the rows of what it owns (the networks
 * here, the objective in `pipeline/iteration.ts`, data and output in
 * `pipeline/options.ts`); `pipeline/options.ts` joins them into the one table
 * of a training run. The row type lives here, in the lowest layer that
 * declares rows.
 * @module
 */

/** How an option's value is read and checked. */
export type OptionKind = "int" | "real" | "choice" | "boolean" | "path" | "text";

/** A value an option can hold. */
export type OptionValue = number | string | boolean;

/** One option: what it holds, its default, what is allowed, and its help line. */
export interface OptionSpec {
  /** How the value is read and checked. */
  readonly kind: OptionKind;
  /**
   * The default; a function computes it from the other options (after their
   * defaults); absent: the option is unset unless given.
   */
  readonly default?: OptionValue | ((options: Record<string, unknown>) => OptionValue | undefined);
  /** Smallest allowed value (int, real). */
  readonly min?: number;
  /** Largest allowed value (int, real). */
  readonly max?: number;
  /** `min` itself is not allowed (real). */
  readonly aboveMin?: boolean;
  /** Allowed values (choice). */
  readonly choices?: readonly string[];
  /** What the option does, one line. */
  readonly help: string;
  /** The placeholder of the value in `--help` (N, X, DIR, NAME). */
  readonly arg?: string;
  /** The heading the option is listed under in `--help`. */
  readonly group: string;
  /** A further check of a value that passed the row's own; throws an Error whose message says what works. */
  readonly check?: (value: never, options: Record<string, unknown>) => void;
}

/** A table of options: one row per key of the options object `T`. */
export type OptionTable<T> = { readonly [K in keyof T]-?: OptionSpec };

/**
 * A bad option value; the message names the option (as on the command line) and what works.
 *
 * @example
 * ```ts
 * import { OptionError } from "./options.ts";
 * const e = new OptionError("--batch-size", "expected a whole number >= 1, got 0");
 * console.log(e.message, e.option);
 * ```
 */
export class OptionError extends Error {
  /** The option's command-line name, e.g. "--batch-size". */
  readonly option: string;
  /** Builds the error for `option` with the `problem` described. */
  constructor(option: string, problem: string) {
    super(`${option}: ${problem}`);
    this.option = option;
    this.name = "OptionError";
  }
}

/**
 * The command-line name of an option: `batchSize` -> `--batch-size`.
 *
 * @example
 * ```ts
 * import { flagName } from "./options.ts";
 * console.log(flagName("lambdaCycle")); // "--lambda-cycle"
 * ```
 */
export function flagName(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/**
 * Fills the defaults of `table` into `given` (undefined counts as not given)
 * and checks every value against its row, in table order; throws an
 * {@link OptionError} naming the first bad option. Keys that are not in the
 * table pass through unchecked.
 *
 * @example
 * ```ts
 * import { type OptionTable, resolveOptions } from "./options.ts";
 * const table: OptionTable<{ width: number }> = {
 *   width: { kind: "int", default: 16, min: 1, max: 1024, help: "width", group: "Networks" },
 * };
 * console.log(resolveOptions(table, {}).width); // 16
 * resolveOptions(table, { width: 0 }); // throws "--width: expected a whole number from 1 to 1024, got 0"
 * ```
 */
export function resolveOptions<T>(table: OptionTable<T>, given: Partial<T>): T {
  const o: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) if (value !== undefined) o[key] = value;
  const rows = Object.entries(table) as [string, OptionSpec][];
  for (const [key, row] of rows) {
    if (o[key] !== undefined || row.default === undefined) continue;
    const value = typeof row.default === "function" ? row.default(o) : row.default;
    if (value !== undefined) o[key] = value;
  }
  for (const [key, row] of rows) {
    if (o[key] !== undefined) checkOption(key, row, o[key], o);
  }
  return o as T;
}

/**
 * Checks one value against its row; throws an {@link OptionError} naming `key`.
 *
 * @example
 * ```ts
 * import { checkOption } from "./options.ts";
 * checkOption("lr", { kind: "real", min: 0, max: 1, aboveMin: true, help: "", group: "" }, 0.1, {});
 * ```
 */
export function checkOption(
  key: string,
  row: OptionSpec,
  value: unknown,
  options: Record<string, unknown>,
): void {
  const flag = flagName(key);
  const min = row.min ?? -Infinity, max = row.max ?? Number.MAX_SAFE_INTEGER;
  switch (row.kind) {
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
        throw new OptionError(flag, `expected a whole number ${range}, got ${show(value)}`);
      }
      break;
    case "real":
      if (
        typeof value !== "number" || !Number.isFinite(value) || value < min || value > max ||
        (row.aboveMin && value === min)
      ) {
        throw new OptionError(
          flag,
          `expected a number ${row.aboveMin ? ">" : ">="} ${min} and <= ${max}, got ${show(value)}`,
        );
      }
      break;
    case "choice":
      if (!row.choices?.includes(value as string)) {
        throw new OptionError(
          flag,
          `expected one of ${row.choices?.join(", ")}, got ${show(value)}`,
        );
      }
      break;
    case "boolean":
      if (typeof value !== "boolean") {
        throw new OptionError(flag, `expected true or false, got ${show(value)}`);
      }
      break;
    case "path":
      if (typeof value !== "string" || value === "") {
        throw new OptionError(flag, `expected a path, got ${show(value)}`);
      }
      break;
    case "text":
      if (typeof value !== "string") {
        throw new OptionError(flag, `expected text, got ${show(value)}`);
      }
      break;
  }
  if (row.check) {
    try {
      row.check(value as never, options);
    } catch (e) {
      if (e instanceof OptionError) throw e;
      throw Object.assign(new OptionError(flag, (e as Error).message), { cause: e });
    }
  }
}

/**
 * The help lines of a table, grouped under their headings in table order:
 * `--flag ARG   help (default X)`.
 *
 * @example
 * ```ts
 * import { optionHelp } from "./options.ts";
 * console.log(optionHelp({
 *   ngf: { kind: "int", default: 16, arg: "N", help: "generator width", group: "Networks" },
 * }));
 * // Networks
 * //   --ngf N                 generator width (default 16)
 * ```
 */
export function optionHelp(table: Record<string, OptionSpec>): string {
  const groups = new Map<string, string[]>();
  for (const [key, row] of Object.entries(table)) {
    const flag = row.kind === "boolean" && row.default === true
      ? flagName(key).replace(/^--/, "--no-")
      : flagName(key) + (row.kind === "boolean" ? "" : ` ${row.arg ?? argOf(row)}`);
    const choices = row.kind === "choice" ? `: ${row.choices?.join(" | ")}` : "";
    const fallback = typeof row.default === "function" || row.default === undefined ||
        row.kind === "boolean" || row.kind === "path"
      ? ""
      : ` (default ${row.default})`;
    const line = wrap(`  ${flag.padEnd(22)} ${row.help}${choices}${fallback}`, HELP_WIDTH, 25);
    groups.set(row.group, [...(groups.get(row.group) ?? []), line]);
  }
  return [...groups].map(([group, lines]) => [group, ...lines].join("\n")).join("\n");
}

/**
 * The command-line kind of every row: how `scripts/cli_args.ts` parses each flag.
 *
 * @example
 * ```ts
 * import { flagKinds } from "./options.ts";
 * console.log(flagKinds({ ngf: { kind: "int", help: "", group: "" } })); // { ngf: "number" }
 * ```
 */
export function flagKinds(
  table: Record<string, OptionSpec>,
): Record<string, "string" | "number" | "boolean"> {
  const out: Record<string, "string" | "number" | "boolean"> = {};
  for (const [key, row] of Object.entries(table)) {
    out[key] = row.kind === "int" || row.kind === "real"
      ? "number"
      : row.kind === "boolean"
      ? "boolean"
      : "string";
  }
  return out;
}

const HELP_WIDTH = 100;

// Breaks `text` into lines of at most `width` characters at spaces, the
// continuation lines indented by `indent`.
function wrap(text: string, width: number, indent: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/(?<=\S) (?=\S)/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = " ".repeat(indent) + word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join("\n");
}

function argOf(row: OptionSpec): string {
  return { int: "N", real: "X", choice: "NAME", boolean: "", path: "DIR", text: "TEXT" }[row.kind];
}

function show(v: unknown): string {
  return typeof v === "string" ? `"${v}"` : String(v);
}
