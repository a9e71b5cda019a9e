/**
 * Icons of the Iconify JSON packages (`@iconify-json/*`): their types, and
 * where an icon sits in its view box.
 * @module
 */

/** One icon of an Iconify set: its SVG body and, where it differs from the set's, its box. */
export interface IconifyIcon {
  /** The SVG elements inside the icon's `<svg>`. */
  body: string;
  /** Left of the view box (default: the set's, else 0). */
  left?: number;
  /** Top of the view box (default: the set's, else 0). */
  top?: number;
  /** Width of the view box (default: the set's, else 16). */
  width?: number;
  /** Height of the view box (default: the set's, else 16). */
  height?: number;
  /** Kept for old names, not shown in the set. */
  hidden?: boolean;
}

/** An Iconify set, as an `icons.json` holds it. */
export interface IconifySet {
  /** The set's name, e.g. "fluent-emoji-flat". */
  prefix?: string;
  /** The icons by name. */
  icons: Record<string, IconifyIcon>;
  /** Other names of icons. */
  aliases?: Record<string, unknown>;
  /** Default left of the view box. */
  left?: number;
  /** Default top of the view box. */
  top?: number;
  /** Default width of the view box. */
  width?: number;
  /** Default height of the view box. */
  height?: number;
}

/** An icon's body and its view box, the set's defaults filled in. */
export interface IconBox {
  /** The SVG elements. */
  body: string;
  /** Left of the view box. */
  left: number;
  /** Top of the view box. */
  top: number;
  /** Width of the view box. */
  width: number;
  /** Height of the view box. */
  height: number;
}

/**
 * The icon `name` of `set` with its view box; throws if the set lacks it.
 *
 * @example
 * ```ts
 * import { iconBox } from "./iconify.ts";
 * const set = { width: 32, height: 32, icons: { dot: { body: "<circle r='4'/>" } } };
 * console.log(iconBox(set, "dot").width); // 32
 * ```
 */
export function iconBox(set: IconifySet, name: string): IconBox {
  const icon = set.icons[name];
  if (!icon) throw new Error(`icon "${name}" is not in the icon set ${set.prefix ?? ""}`.trim());
  return {
    body: icon.body,
    left: icon.left ?? set.left ?? 0,
    top: icon.top ?? set.top ?? 0,
    width: icon.width ?? set.width ?? 16,
    height: icon.height ?? set.height ?? 16,
  };
}
