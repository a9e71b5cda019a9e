/**
 * The demo's page (`index.html` of `deno task demo`): images in, translations
 * out, computed in the browser by onnxruntime-web from the site's own
 * `g_ab.onnx` / `g_ba.onnx` or from a `.onnx` file the user gives it.
 *
 * The page loads nothing beyond its own folder: onnxruntime-web's bundle
 * (`ort.min.mjs` for WebGPU, else `ort.wasm.min.mjs`) and the WebAssembly files
 * it fetches, `demo.json` and the models. Its numbers follow
 * the trainer's exactly, so that the page shows what `deno task translate`
 * writes: an image is drawn at the model's size (stretched, on white, as
 * `decodeImage` flattens it), its bytes become `v / 127.5 - 1`, and the
 * output goes back to bytes as `toBytes` does, `(x + 1) · 127.5` rounded half
 * to even (tf.round) and clamped.
 * @module
 */

/**
 * The demo page: a self-contained HTML document whose module script imports
 * `./ort.min.mjs` or `./ort.wasm.min.mjs` and reads `./demo.json` next to it.
 *
 * @example
 * ```ts
 * import { demoPageHtml } from "./demo_page.ts";
 * console.log(demoPageHtml().startsWith("<!doctype html>")); // true
 * ```
 */
export function demoPageHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>DiscoGAN: translate images in the browser</title>
<style>${CSS}</style></head>
<body data-state="loading">
<h1>DiscoGAN: translate images in the browser</h1>
<p id="model">Loading the model…</p>
<div class="controls">
  <label>Direction <select id="direction">
    <option value="ab">A → B</option><option value="ba">B → A</option></select></label>
  <label>Run on <select id="provider">
    <option value="auto">WebGPU where present, else WebAssembly</option>
    <option value="webgpu">WebGPU</option><option value="wasm">WebAssembly</option></select></label>
  <label class="button">Images… <input id="images" type="file" accept="image/*" multiple></label>
  <label class="button">Model (.onnx)… <input id="model-file" type="file" accept=".onnx"></label>
</div>
<div id="drop" tabindex="0">Drop images here, or a <code>.onnx</code> model made by
<code>deno task export</code>. Nothing leaves this browser.</div>
<p id="error" role="alert" hidden></p>
<p id="status" aria-live="polite">Runs on <span id="provider-used">(not yet run)</span>.</p>
<div id="results"></div>
<script type="module">${SCRIPT}</script>
</body></html>
`;
}

const CSS = `
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;max-width:70em}
h1{font-size:1.4em}
.controls{display:flex;flex-wrap:wrap;gap:1em;align-items:center;margin:.8em 0}
.button{border:1px solid #888;border-radius:4px;padding:3px 8px;cursor:pointer}
.button input{display:none}
#drop{border:2px dashed #999;border-radius:6px;padding:1.5em;text-align:center;color:#555}
#drop.over{border-color:#1f77b4;background:#eef5fb}
#error{color:#a00;background:#fdecec;border:1px solid #e8b4b4;padding:.5em;white-space:pre-line}
#results{display:flex;flex-wrap:wrap;gap:1em;margin-top:1em}
.result{margin:0}.result canvas{width:192px;height:192px;image-rendering:pixelated;border:1px solid #ccc}
.result figcaption{max-width:390px;font-size:12px;color:#444}
`;

// The page's program, plain browser JavaScript (a string: Deno does not check it).
const SCRIPT = `
const INPUT = "image", OUTPUT = "translated";
const NAMES = { ab: "A → B", ba: "B → A" };
const PROVIDERS = { webgpu: "WebGPU", wasm: "WebAssembly" };
const $ = (id) => document.getElementById(id);

// WebGPU needs onnxruntime's larger build (JSEP); its plain WebAssembly build
// compiles several times faster, so a browser without WebGPU loads only that.
const BUNDLES = { webgpu: "./ort.min.mjs", wasm: "./ort.wasm.min.mjs" };
const runtimes = {};
function runtime(provider) {
  return (runtimes[provider] ??= import(BUNDLES[provider]).then((ort) => {
    // The WebAssembly files lie next to the page, wherever it is hosted.
    ort.env.wasm.wasmPaths = new URL("./", location.href).href;
    // Threads need SharedArrayBuffer, which only a cross-origin-isolated page has
    // (deno task demo sends the headers; another web server may not).
    if (!self.crossOriginIsolated) ort.env.wasm.numThreads = 1;
    return ort;
  }));
}

let info = { directions: [] }; // demo.json
const models = {}; // direction -> { bytes, file, source, session, provider, size }
let inputs = []; // the images shown, translated again when the direction or model changes
let queue = Promise.resolve(), pending = 0;
let gpu; // Promise<boolean>: whether WebGPU has an adapter here

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}
function clearError() {
  $("error").textContent = "";
  $("error").hidden = true;
}
const messageOf = (e) => (e instanceof Error ? e.message : String(e));

// Every action runs here, one at a time; whatever it throws becomes the
// message on the page, never an uncaught exception.
function enqueue(job) {
  pending++;
  document.body.dataset.state = "busy";
  queue = queue.then(job).catch((e) => showError(messageOf(e))).finally(() => {
    if (--pending === 0) document.body.dataset.state = "ready";
  });
  return queue;
}
addEventListener("error", (e) => showError(messageOf(e.error ?? e.message)));
addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  showError(messageOf(e.reason));
});

async function hasWebGpu() {
  try {
    return Boolean(navigator.gpu && (await navigator.gpu.requestAdapter()));
  } catch {
    return false;
  }
}
async function providers() {
  const chosen = $("provider").value, present = await (gpu ??= hasWebGpu());
  if (chosen === "webgpu" && !present) {
    throw new Error("This browser has no WebGPU adapter: run on WebAssembly instead");
  }
  if (chosen !== "auto") return [chosen];
  return present ? ["webgpu", "wasm"] : ["wasm"];
}

// The image size of a generator that deno task export wrote, or why it is not one.
function generatorSize(session) {
  const names = (list) => list.map((n) => JSON.stringify(n)).join(", ") || "none";
  if (session.inputNames.length !== 1 || session.inputNames[0] !== INPUT ||
      !session.outputNames.includes(OUTPUT)) {
    return { why: "its inputs are " + names(session.inputNames) + " and its outputs " +
      names(session.outputNames) + ', not "image" and "translated"' };
  }
  const meta = (session.inputMetadata ?? [])[0];
  const shape = meta && meta.isTensor ? meta.shape : undefined;
  if (!shape || shape.length !== 4 || shape[1] !== 3 || typeof shape[2] !== "number" ||
      shape[2] !== shape[3] || shape[2] < 1 || meta.type !== "float32") {
    return { why: 'its input "image" is ' + (meta && meta.type) + " [" +
      (shape ? shape.join(", ") : "?") + "], not float32 [batch, 3, size, size]" };
  }
  return { size: shape[2] };
}

async function openModel(direction, bytes, file, source) {
  const notOurs = (why) =>
    new Error(file + " is not a DiscoGAN generator exported by deno task export: " + why);
  let session, provider, ort, failure;
  const eps = await providers();
  for (const ep of eps) {
    try {
      ort = await runtime(ep);
      // A copy: onnxruntime may take the buffer over, and a change of provider reopens it.
      session = await ort.InferenceSession.create(bytes.slice(), { executionProviders: [ep] });
      provider = ep;
      break;
    } catch (e) {
      failure = e;
    }
  }
  if (!session) throw notOurs(messageOf(failure));
  const fit = generatorSize(session);
  if (fit.why) {
    await session.release();
    throw notOurs(fit.why);
  }
  await models[direction]?.session?.release();
  models[direction] = { bytes, file, source, session, provider, ort, size: fit.size };
  showModels();
}

// The model of a direction: opened already, or the site's g_<direction>.onnx.
async function model(direction) {
  const m = models[direction];
  if (m?.session) return m;
  if (m) await openModel(direction, m.bytes, m.file, m.source);
  else if (info.directions.includes(direction)) {
    const file = "g_" + direction + ".onnx";
    const response = await fetch(file);
    if (!response.ok) throw new Error(file + " could not be loaded: HTTP " + response.status);
    const bytes = new Uint8Array(await response.arrayBuffer());
    await openModel(direction, bytes, file, ""); // described by demo.json
  } else {
    throw new Error("No model for " + NAMES[direction] + ": pick or drop a .onnx file made by " +
      "deno task export --direction " + direction);
  }
  return models[direction];
}

function showModels() {
  const parts = ["ab", "ba"].map((d) => {
    const m = models[d];
    if (m?.source) return NAMES[d] + ": " + m.file + " (" + m.size + "×" + m.size + ", " + m.source + ")";
    if (info.directions.includes(d)) return NAMES[d] + ": g_" + d + ".onnx (" + info.generator +
      " generator, " + info.imageSize + "×" + info.imageSize + ", " + info.checkpoint +
      (info.iteration === undefined ? "" : ", iteration " + info.iteration) + ")";
    return NAMES[d] + ": no model";
  });
  const none = !info.directions.length && !Object.keys(models).length;
  $("model").textContent = none
    ? "No model is served here: pick or drop a .onnx model made by deno task export " +
      "(or start deno task demo --checkpoint RUN)."
    : parts.join(" · ");
}

async function decode(file) {
  try {
    // Bytes as stored: no colour conversion, as the trainer reads them.
    return await createImageBitmap(file, { colorSpaceConversion: "none" });
  } catch {
    throw new Error(file.name + " is not an image the browser can decode");
  }
}

// What tf.round does: halves go to the even neighbour.
function toByte(x) {
  const v = Math.fround(Math.fround(x + 1) * 127.5);
  let r = Math.round(v);
  if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

function canvas(size) {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  return c;
}

async function translate(file, direction) {
  const bitmap = await decode(file);
  const m = await model(direction);
  const size = m.size, plane = size * size;
  const input = canvas(size);
  input.className = "input";
  const ctx = input.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff"; // transparent pixels on white, as decodeImage flattens them
  ctx.fillRect(0, 0, size, size);
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, size, size);
  const resized = bitmap.width !== size || bitmap.height !== size;
  const from = bitmap.width + "×" + bitmap.height;
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const x = new Float32Array(3 * plane); // NCHW
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) x[c * plane + i] = rgba[i * 4 + c] / 127.5 - 1;
  }
  const started = performance.now();
  const result = await m.session.run({ [INPUT]: new m.ort.Tensor("float32", x, [1, 3, size, size]) });
  const ms = Math.round(performance.now() - started);
  const y = result[OUTPUT].data;
  const out = new Uint8ClampedArray(4 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = toByte(y[c * plane + i]);
    out[i * 4 + 3] = 255;
  }
  const output = canvas(size);
  output.className = "output";
  output.getContext("2d").putImageData(new ImageData(out, size, size), 0, 0);

  const figure = document.createElement("figure");
  figure.className = "result";
  Object.assign(figure.dataset, { name: file.name, direction, provider: m.provider });
  const pair = document.createElement("div");
  pair.append(input, output);
  const caption = document.createElement("figcaption");
  caption.textContent = file.name + ", " + NAMES[direction] + " on " + PROVIDERS[m.provider] +
    " in " + ms + " ms" + (resized ? "; resized from " + from + " to " + size + "×" + size +
      ", as the model takes" : "");
  figure.append(pair, caption);
  $("results").append(figure);
  const threads = m.ort.env.wasm.numThreads; // set by onnxruntime once it has started
  $("provider-used").textContent = PROVIDERS[m.provider] + (m.provider !== "wasm" ? "" :
    typeof threads === "number" ? " (" + threads + (threads === 1 ? " thread)" : " threads)") : "");
  document.body.dataset.provider = m.provider;
}

// Translates every image shown, in the chosen direction, and returns what
// failed: an image that fails is named and skipped, the others go on.
async function translateAll() {
  $("results").replaceChildren();
  const direction = $("direction").value, failures = [], kept = [];
  for (const file of inputs) {
    try {
      await translate(file, direction);
      kept.push(file);
    } catch (e) {
      failures.push(messageOf(e));
      if (!/is not an image/.test(messageOf(e))) kept.push(file);
    }
  }
  inputs = kept;
  const done = $("results").children.length;
  if (done) {
    $("status").firstChild.textContent = "Translated " + done + " image" + (done > 1 ? "s" : "") +
      " " + NAMES[direction] + " on ";
  }
  return failures;
}

async function translateShown() {
  clearError();
  const failures = await translateAll();
  if (failures.length) showError([...new Set(failures)].join("\\n"));
}

function take(fileList) {
  const files = [...fileList];
  const onnx = files.filter((f) => /\\.onnx$/i.test(f.name));
  const images = files.filter((f) => !/\\.onnx$/i.test(f.name));
  enqueue(async () => {
    clearError();
    const failures = [];
    if (onnx.length) {
      const file = onnx[onnx.length - 1], direction = $("direction").value;
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        await openModel(direction, bytes, file.name, "your file, for " + NAMES[direction]);
      } catch (e) {
        failures.push(messageOf(e)); // the model in place stays
      }
    }
    if (images.length) inputs = images;
    if (images.length || !failures.length) failures.push(...(await translateAll()));
    if (failures.length) showError([...new Set(failures)].join("\\n"));
  });
}

async function start() {
  const asked = new URLSearchParams(location.search).get("ep");
  if (asked && asked in PROVIDERS) $("provider").value = asked;
  const response = await fetch("demo.json");
  if (response.ok) info = await response.json();
  showModels();
  if (info.directions.length && !info.directions.includes($("direction").value)) {
    $("direction").value = info.directions[0];
  }
  if (info.directions.length) await model($("direction").value);
}

$("images").addEventListener("change", (e) => {
  take(e.target.files);
  e.target.value = ""; // the same file again is a new change
});
$("model-file").addEventListener("change", (e) => {
  take(e.target.files);
  e.target.value = "";
});
$("direction").addEventListener("change", () => enqueue(translateShown));
$("provider").addEventListener("change", () => enqueue(async () => {
  for (const m of Object.values(models)) {
    await m.session?.release();
    m.session = undefined;
  }
  await translateShown();
}));
// A drop anywhere is taken (the browser would otherwise open the file instead of the page).
for (const type of ["dragenter", "dragover"]) {
  addEventListener(type, (e) => {
    e.preventDefault();
    $("drop").classList.add("over");
  });
}
addEventListener("dragleave", () => $("drop").classList.remove("over"));
addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  if (e.dataTransfer?.files.length) take(e.dataTransfer.files);
});
$("drop").addEventListener("click", () => $("images").click());
enqueue(start);
`;
