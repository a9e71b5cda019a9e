/**
 * The browser demo: `deno task demo`. A static site (a page, onnxruntime-web's
 * files and, from a checkpoint, its two generators as ONNX models) that
 * translates images in the browser; served on 127.0.0.1 or written to a
 * folder that any web server can host.
 *
 * The page runs the models with onnxruntime-web: on WebGPU where the browser
 * has an adapter (`ort.min.mjs`, which loads `ort-wasm-simd-threaded.jsep.*`),
 * else on WebAssembly (`ort.wasm.min.mjs` and `ort-wasm-simd-threaded.*`: the
 * build without WebGPU compiles several times faster). ORT's WebGL backend is
 * deprecated and left out. The server sends the cross-origin-isolation
 * headers, so that the WebAssembly backend may use threads there.
 * @module
 */
import { type LocalServer, type LocalServerOptions, serveLocal } from "./local_server.ts";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { exportOnnx } from "./export_onnx.ts";
import { demoPageHtml } from "./demo_page.ts";

/** onnxruntime-web's files the page loads, from the package's `dist/`. */
export const ORT_WEB_FILES: readonly string[] = [
  "ort.min.mjs",
  "ort-wasm-simd-threaded.jsep.mjs",
  "ort-wasm-simd-threaded.jsep.wasm",
  "ort.wasm.min.mjs",
  "ort-wasm-simd-threaded.mjs",
  "ort-wasm-simd-threaded.wasm",
];

/** What the site serves as `demo.json`: the models it has, and where they came from. */
export interface DemoInfo {
  /** The directions with a model in the site (`g_ab.onnx`, `g_ba.onnx`); none without a checkpoint. */
  directions: ("ab" | "ba")[];
  /** The models' image side (the run's `imageSize`). */
  imageSize?: number;
  /** The generator architecture (`--generator`). */
  generator?: string;
  /** The checkpoint folder the models were exported from. */
  checkpoint?: string;
  /** Iterations the checkpoint had trained, when its `state.json` says. */
  iteration?: number;
  /** The onnxruntime-web version the page runs. */
  ortVersion: string;
}

/** The demo as static files. */
export interface DemoSite {
  /** File name (flat, no folders) to contents: `index.html`, `demo.json`, the models, ORT's files. */
  files: Map<string, Uint8Array>;
  /** What `demo.json` says. */
  info: DemoInfo;
}

/**
 * Builds the demo site; with `checkpoint` (a run directory or a checkpoint
 * folder) it holds `g_ab.onnx` and `g_ba.onnx`, else the page asks for a
 * model. Needs a tf backend for the export (`useBackend("cpu")` is enough).
 *
 * @throws {Error} Naming the checkpoint, when it cannot be exported (not a
 * checkpoint, unreadable weights, a generator with no ONNX export).
 *
 * @example
 * ```ts
 * import { buildDemoSite } from "./demo.ts";
 * const site = await buildDemoSite();
 * console.log([...site.files.keys()].includes("index.html")); // true
 * ```
 */
export async function buildDemoSite(checkpoint?: string): Promise<DemoSite> {
  const files = new Map<string, Uint8Array>();
  const { dist, version } = await ortWebDist();
  for (const name of ORT_WEB_FILES) {
    let bytes = await Deno.readFile(join(dist, name));
    // The source map is not shipped: a browser with its tools open would ask for it.
    if (name.endsWith(".mjs")) {
      bytes = new TextEncoder().encode(
        new TextDecoder().decode(bytes).replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"),
      );
    }
    files.set(name, bytes);
  }
  const info: DemoInfo = { directions: [], ortVersion: version };
  if (checkpoint !== undefined) {
    for (const direction of ["ab", "ba"] as const) {
      const model = await exportOnnx(checkpoint, direction).catch((e) => {
        throw new Error(`${checkpoint} cannot be shown in the demo: ${(e as Error).message}`);
      });
      files.set(`g_${direction}.onnx`, model.bytes);
      info.directions.push(direction);
      Object.assign(info, {
        imageSize: model.imageSize,
        generator: model.generator,
        checkpoint: model.checkpoint,
      });
    }
    const state = await Deno.readTextFile(join(info.checkpoint as string, "state.json"))
      .then((text) => JSON.parse(text), () => ({}));
    if (Number.isInteger(state.iteration)) info.iteration = state.iteration;
  }
  files.set("demo.json", new TextEncoder().encode(JSON.stringify(info, null, 2) + "\n"));
  files.set("index.html", new TextEncoder().encode(demoPageHtml()));
  return { files, info };
}

/**
 * Writes the site's files into `dir` (made if missing), for any static web
 * server; returns the paths written.
 *
 * @example
 * ```ts
 * import { buildDemoSite, writeDemoSite } from "./demo.ts";
 * await writeDemoSite(await buildDemoSite(), "demo-site");
 * ```
 */
export async function writeDemoSite(site: DemoSite, dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, bytes] of site.files) {
    const path = join(dir, name);
    await Deno.writeFile(path, bytes);
    written.push(path);
  }
  return written;
}

/** Where to serve the demo (port 0: any free one; host: 127.0.0.1 unless given). */
export type DemoServeOptions = LocalServerOptions;

/** A running demo server: its page's address, e.g. `http://127.0.0.1:8000/`, and `close`. */
export type DemoServer = LocalServer;

/**
 * Serves the site: `/` is `index.html`, each file is at `/<name>`, anything
 * else is a 404; GET and HEAD only. Pages are cross-origin isolated (COOP and
 * COEP headers), which lets onnxruntime-web use WebAssembly threads.
 *
 * @example
 * ```ts
 * import { buildDemoSite, serveDemoSite } from "./demo.ts";
 * const server = serveDemoSite(await buildDemoSite(), { port: 0 });
 * console.log((await fetch(server.url)).status); // 200
 * await server.close();
 * ```
 */
export function serveDemoSite(site: DemoSite, options: DemoServeOptions): DemoServer {
  const handle = (req: Request): Response => {
    const text = (body: string, status: number) =>
      new Response(body, { status, headers: { "content-type": "text/plain" } });
    if (req.method !== "GET" && req.method !== "HEAD") return text("read-only\n", 405);
    const name = new URL(req.url).pathname.slice(1) || "index.html";
    const bytes = site.files.get(name);
    if (!bytes) return text("not found\n", 404);
    // Every buffer of the site is a plain ArrayBuffer (read, encoded or exported here).
    const body = bytes as Uint8Array<ArrayBuffer>;
    return new Response(req.method === "HEAD" ? null : body, {
      headers: {
        "content-type": contentType(name),
        "content-length": String(bytes.length),
        "cache-control": "no-cache",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-embedder-policy": "require-corp",
        "cross-origin-resource-policy": "same-origin",
        "x-content-type-options": "nosniff",
      },
    });
  };
  return serveLocal(handle, options);
}

/**
 * The content type a web server should send for a site file (`.wasm` must be
 * `application/wasm` for streaming compilation).
 *
 * @example
 * ```ts
 * import { contentType } from "./demo.ts";
 * console.log(contentType("ort.min.mjs")); // "text/javascript; charset=utf-8"
 * ```
 */
export function contentType(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1);
  return {
    html: "text/html; charset=utf-8",
    mjs: "text/javascript; charset=utf-8",
    js: "text/javascript; charset=utf-8",
    json: "application/json",
    wasm: "application/wasm",
  }[ext] ?? "application/octet-stream";
}

let ortWebCache: Promise<{ dist: string; version: string }> | undefined;

// onnxruntime-web's dist/ folder in node_modules, and its version.
function ortWebDist(): Promise<{ dist: string; version: string }> {
  ortWebCache ??= (async () => {
    // The import makes Deno install the package; the page needs its files.
    await import("onnxruntime-web");
    const require = createRequire(import.meta.url);
    const dist = dirname(require.resolve("onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm"));
    const { version } = JSON.parse(await Deno.readTextFile(join(dist, "..", "package.json")));
    return { dist, version };
  })();
  return ortWebCache;
}
