import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  checkTensorSet,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
  type SafetensorsFile,
  type TensorRecord,
  writeSafetensors,
} from "../ops/formats/safetensors.ts";
import { writeFileAtomic, writeFileAtomicSync } from "../ops/formats/atomic_write.ts";
import { FIXTURES } from "./fixtures.ts";

const SRC = "bad.safetensors";

/** Builds a file from a raw header (object or JSON text) and data bytes, without padding. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array()) {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** Asserts decoding fails with a SafetensorsError naming SRC and containing `phrase`. */
function assertRejects(bytes: Uint8Array, phrase: string | RegExp): void {
  assert.throws(() => decodeSafetensors(bytes, SRC), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `not a SafetensorsError: ${e}`);
    assert.ok(e.message.startsWith(`${SRC}: `), e.message);
    if (typeof phrase === "string") {
      assert.ok(e.message.includes(phrase), e.message);
    } else assert.match(e.message, phrase);
    return true;
  });
}

function fixture(name: string): string {
  const path = join(FIXTURES, name);
  assert.ok(
    existsSync(path),
    `fixture ${path} not found; run tests/fixtures/parity/make_fixtures.py or set DISCOGAN_FIXTURES`,
  );
  return path;
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  assert.deepEqual(
    new Uint32Array(a.buffer, a.byteOffset, a.length),
    new Uint32Array(b.buffer, b.byteOffset, b.length),
  );

// ---------------------------------------------------------------- round trip

Deno.test("encode/decode round-trips shapes, values (bitwise), order and metadata", () => {
  const tensors = new Map<string, TensorRecord>([
    ["w", {
      shape: [2, 3],
      data: new Float32Array([1, -2, 0.1, -0, Infinity, NaN]),
    }],
    ["scalar", { shape: [], data: new Float32Array([42]) }],
    ["empty", { shape: [0, 3], data: new Float32Array() }],
    ["b", { shape: [1], data: new Float32Array([-1e-30]) }],
  ]);
  const bytes = encodeSafetensors(tensors, { step: "7", note: "ünïcode ✓" });
  const file = decodeSafetensors(bytes);
  assert.deepEqual([...file.tensors.keys()], ["w", "scalar", "empty", "b"]);
  for (const [name, t] of tensors) {
    assert.deepEqual(file.tensors.get(name)!.shape, t.shape);
    sameBits(file.tensors.get(name)!.data, t.data);
  }
  assert.deepEqual(file.metadata, { step: "7", note: "ünïcode ✓" });
});

Deno.test("encode: F32, contiguous offsets in insertion order, header space-padded to 8", () => {
  const bytes = encodeSafetensors({
    a: { shape: [3], data: new Float32Array([1, 2, 3]) },
    b: { shape: [1, 1], data: new Float32Array([4]) },
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const json = text.trimEnd();
  assert.match(text.slice(json.length), /^ *$/);
  assert.deepEqual(JSON.parse(json), {
    a: { dtype: "F32", shape: [3], data_offsets: [0, 12] },
    b: { dtype: "F32", shape: [1, 1], data_offsets: [12, 16] },
  });
  assert.equal(bytes.length, 8 + n + 16);
  assert.ok(!("__metadata__" in JSON.parse(json)), "empty metadata is omitted");
});

Deno.test("encode accepts a plain object and a Float32Array view into a larger buffer", () => {
  const backing = new Float32Array([9, 1, 2, 9]);
  const file = decodeSafetensors(
    encodeSafetensors({ v: { shape: [2], data: backing.subarray(1, 3) } }),
  );
  assert.deepEqual([...file.tensors.get("v")!.data], [1, 2]);
});

Deno.test("encode rejects data/shape mismatch and the reserved __metadata__ name", () => {
  assert.throws(
    () => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
    (e) =>
      e instanceof SafetensorsError &&
      /"w".*\[2,2\] needs 4 values, but data has 3/.test(e.message),
  );
  assert.throws(
    () =>
      encodeSafetensors({
        __metadata__: { shape: [1], data: new Float32Array(1) },
      }),
    (e) => e instanceof SafetensorsError && e.message.includes("reserved"),
  );
});

Deno.test("decode handles data at unaligned offsets and unaligned input views", () => {
  // Unpadded 1-byte-odd header: the data section starts at an odd byte offset.
  let header = JSON.stringify({
    x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
  });
  if ((8 + header.length) % 4 === 0) header += " ";
  const bytes = rawFile(header, f32Bytes([1.5, -2.25]));
  assert.deepEqual([...decodeSafetensors(bytes).tensors.get("x")!.data], [
    1.5,
    -2.25,
  ]);
  // The same file inside a larger buffer at an odd byteOffset.
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const view = shifted.subarray(3);
  assert.deepEqual([...decodeSafetensors(view).tensors.get("x")!.data], [
    1.5,
    -2.25,
  ]);
});

Deno.test("decoded data does not alias the input buffer", () => {
  const bytes = encodeSafetensors({
    x: { shape: [1], data: new Float32Array([1]) },
  });
  const data = decodeSafetensors(bytes).tensors.get("x")!.data;
  bytes.fill(0, bytes.length - 4);
  assert.equal(data[0], 1);
});

// ---------------------------------------------------------------- dtypes

Deno.test("F16 is converted to float32 (normal, subnormal, signed zero, inf, NaN)", () => {
  const halves = [
    0x3c00,
    0xc000,
    0x3800,
    0x7bff,
    0x0001,
    0x8000,
    0x7c00,
    0xfc00,
    0x7e00,
  ];
  const data = new Uint8Array(halves.length * 2);
  halves.forEach((h, i) => new DataView(data.buffer).setUint16(2 * i, h, true));
  const bytes = rawFile({
    h: { dtype: "F16", shape: [9], data_offsets: [0, 18] },
  }, data);
  const got = [...decodeSafetensors(bytes).tensors.get("h")!.data];
  assert.deepEqual(got, [
    1,
    -2,
    0.5,
    65504,
    2 ** -24,
    -0,
    Infinity,
    -Infinity,
    NaN,
  ]);
});

Deno.test("BF16 is converted to float32", () => {
  const data = new Uint8Array(8);
  [0x3f80, 0xc000, 0x4049, 0xff80].forEach((h, i) =>
    new DataView(data.buffer).setUint16(2 * i, h, true)
  );
  const bytes = rawFile({
    h: { dtype: "BF16", shape: [2, 2], data_offsets: [0, 8] },
  }, data);
  const t = decodeSafetensors(bytes).tensors.get("h")!;
  assert.deepEqual(t.shape, [2, 2]);
  assert.deepEqual([...t.data], [1, -2, 3.140625, -Infinity]);
});

Deno.test("F64 is narrowed to float32", () => {
  const values = [1.5, -0.1, 1e-3, 1e300];
  const data = new Uint8Array(new Float64Array(values).buffer);
  const bytes = rawFile({
    d: { dtype: "F64", shape: [4], data_offsets: [0, 32] },
  }, data);
  assert.deepEqual(
    [...decodeSafetensors(bytes).tensors.get("d")!.data],
    values.map(Math.fround),
  );
});

// ---------------------------------------------------------------- fixtures

const D_SHAPES = new Map<string, number[]>([
  ["model.0.weight", [8, 3, 4, 4]],
  ["model.0.bias", [8]],
  ["model.2.weight", [16, 8, 4, 4]],
  ["model.2.bias", [16]],
  ["model.5.weight", [32, 16, 4, 4]],
  ["model.5.bias", [32]],
  ["model.9.weight", [1, 32, 4, 4]],
  ["model.9.bias", [1]],
]);

Deno.test("d_a.safetensors holds exactly the 8 discriminator tensors", async () => {
  const file = await readSafetensors(fixture("d_a.safetensors"));
  assert.deepEqual(
    new Map([...file.tensors].map(([k, t]) => [k, t.shape])),
    D_SHAPES,
  );
  checkTensorSet(file, D_SHAPES, "d_a.safetensors");
  assert.equal(file.metadata.content, "D_A state_dict at init");
  assert.equal(file.metadata.ndf, "8");
});

Deno.test("every parity fixture decodes, and re-encoding reproduces it byte for byte", async () => {
  const names = readdirSync(fixture("")).filter((n) => n.endsWith(".safetensors")).sort();
  assert.ok(
    names.length >= 9,
    `expected the parity fixtures in ${FIXTURES}, found ${names}`,
  );
  for (const name of names) {
    const bytes = await Deno.readFile(join(FIXTURES, name));
    const file = decodeSafetensors(bytes, name);
    assert.ok(file.tensors.size > 0, name);
    for (const [key, t] of file.tensors) {
      assert.equal(
        t.data.length,
        t.shape.reduce((a, b) => a * b, 1),
        `${name} ${key}`,
      );
      assert.ok(
        t.data.every(Number.isFinite),
        `${name} ${key} has non-finite values`,
      );
    }
    // Tensor bytes alone (the data section) must match ...
    const tensorsOnly = encodeSafetensors(file.tensors);
    const n = (b: Uint8Array) =>
      8 + Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
    assert.deepEqual(
      tensorsOnly.subarray(n(tensorsOnly)),
      bytes.subarray(n(bytes)),
      name,
    );
    // ... and with the metadata the whole file does, header included.
    assert.deepEqual(
      encodeSafetensors(file.tensors, file.metadata),
      bytes,
      name,
    );
  }
});

// ---------------------------------------------------------------- malformed

const ok = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
const eight = f32Bytes([1, 2]);

Deno.test("rejects a file shorter than 8 bytes", () => {
  assertRejects(
    new Uint8Array(5),
    "file is 5 bytes, shorter than the 8-byte header length",
  );
});

Deno.test("rejects a header length larger than the file", () => {
  const bytes = rawFile({ x: ok }, eight);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
  assertRejects(
    bytes,
    `header length ${bytes.length} runs past the end of the file`,
  );
});

Deno.test("rejects a hostile header length over 100 MB without allocating it", () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
  assertRejects(bytes, "exceeds the 100 MB limit");
});

Deno.test("rejects a header that is not valid UTF-8", () => {
  const bytes = rawFile("{}      ");
  bytes[9] = 0xff;
  assertRejects(bytes, "header is not valid UTF-8");
});

Deno.test("rejects a header that is not valid JSON", () => {
  assertRejects(rawFile('{"x": '), "header is not valid JSON");
});

Deno.test("rejects a header that is not a JSON object", () => {
  for (const header of ["[]", "null", "42", '"x"']) {
    assertRejects(rawFile(header), "header is not a JSON object");
  }
});

Deno.test("rejects entries that are not objects or lack a field", () => {
  assertRejects(rawFile({ x: 5 }), 'tensor "x": entry must be an object');
  for (const field of ["dtype", "shape", "data_offsets"]) {
    const entry: Record<string, unknown> = { ...ok };
    delete entry[field];
    assertRejects(
      rawFile({ x: entry }, eight),
      `tensor "x": missing "${field}"`,
    );
  }
});

Deno.test("rejects a dtype that is not a string and a malformed shape", () => {
  assertRejects(
    rawFile({ x: { ...ok, dtype: 4 } }, eight),
    'tensor "x": dtype must be a string',
  );
  for (const shape of ["2", [-2], [1.5], ["2"], null, [2 ** 53]]) {
    assertRejects(
      rawFile({ x: { ...ok, shape } }, eight),
      'tensor "x": shape must be an array of non-negative integers',
    );
  }
});

Deno.test("rejects unsupported dtypes, naming the dtype and tensor", () => {
  for (const dtype of ["I8", "U8", "I64", "BOOL", "toString", "f32"]) {
    assertRejects(
      rawFile(
        { "layer.w": { dtype, shape: [8], data_offsets: [0, 8] } },
        eight,
      ),
      `tensor "layer.w" has dtype "${dtype}", which is not supported`,
    );
  }
});

Deno.test("rejects malformed data_offsets", () => {
  for (
    const data_offsets of [[0, 7.5], ["0", "8"], [0], [0, 8, 8], [-8, 0], "0-8"]
  ) {
    assertRejects(
      rawFile({ x: { ...ok, data_offsets } }, eight),
      'tensor "x": data_offsets must be two non-negative integers',
    );
  }
});

Deno.test("rejects begin > end", () => {
  assertRejects(
    rawFile({ x: { ...ok, data_offsets: [8, 0] } }, eight),
    'tensor "x": data_offsets begin 8 is after end 0',
  );
});

Deno.test("rejects an end past the data section (truncated file)", () => {
  assertRejects(
    rawFile({ x: ok }, eight.subarray(0, 6)),
    'tensor "x": data_offsets end 8 is past the end of the data section (6 bytes)',
  );
});

Deno.test("rejects a byte length that does not match shape and dtype", () => {
  assertRejects(
    rawFile({ x: { ...ok, shape: [3] } }, eight),
    'tensor "x": shape [3] of F32 needs 12 bytes, but data_offsets [0,8] cover 8',
  );
  assertRejects(
    rawFile({ x: { ...ok, dtype: "F16" } }, eight),
    "shape [2] of F16 needs 4 bytes",
  );
});

Deno.test("rejects overlapping tensors", () => {
  const header = {
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
  };
  assertRejects(
    rawFile(header, f32Bytes([1, 2, 3])),
    'tensors "a" [0,8] and "b" [4,12] overlap',
  );
});

Deno.test("rejects bytes not covered by any tensor (gaps and trailing bytes)", () => {
  const gap = {
    a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
    b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
  };
  assertRejects(
    rawFile(gap, f32Bytes([1, 2, 3])),
    "data section has 4 bytes not covered by any tensor",
  );
  assertRejects(
    rawFile({ x: ok }, f32Bytes([1, 2, 3])),
    "data section has 4 bytes not covered by any tensor",
  );
});

Deno.test("accepts empty tensors and an empty header", () => {
  const header = {
    e: { dtype: "F32", shape: [0], data_offsets: [4, 4] },
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
  };
  const file = decodeSafetensors(rawFile(header, eight));
  assert.deepEqual([...file.tensors.get("a")!.data], [1, 2]);
  assert.equal(file.tensors.get("e")!.data.length, 0);
  assert.equal(decodeSafetensors(rawFile({})).tensors.size, 0);
});

Deno.test("rejects __metadata__ that is not a string-to-string map", () => {
  assertRejects(
    rawFile({ __metadata__: [], x: ok }, eight),
    "__metadata__ is not a JSON object",
  );
  assertRejects(
    rawFile({ __metadata__: { step: 7 }, x: ok }, eight),
    '__metadata__ must map strings to strings, but "step" is 7',
  );
});

Deno.test("readSafetensors names the path of a missing or corrupt file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "nope.safetensors");
    await assert.rejects(readSafetensors(missing), (e: Error) => {
      assert.ok(e instanceof SafetensorsError);
      assert.equal(e.message, `${missing}: file not found; check the path`);
      return true;
    });
    const corrupt = join(dir, "corrupt.safetensors");
    await Deno.writeFile(corrupt, new Uint8Array(3));
    await assert.rejects(
      readSafetensors(corrupt),
      (e: Error) =>
        e instanceof SafetensorsError &&
        e.message.startsWith(`${corrupt}: file is 3 bytes`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- checkTensorSet

function fileWith(shapes: Record<string, number[]>): SafetensorsFile {
  const tensors = new Map<string, TensorRecord>();
  for (const [name, shape] of Object.entries(shapes)) {
    tensors.set(name, {
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
    });
  }
  return { tensors, metadata: {} };
}

function assertSetMismatch(
  file: SafetensorsFile,
  expected: Map<string, number[]>,
  phrases: string[],
) {
  assert.throws(
    () => checkTensorSet(file, expected, "ckpt.safetensors"),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError);
      assert.ok(
        e.message.startsWith(
          "ckpt.safetensors: tensors do not match the model",
        ),
        e.message,
      );
      for (const p of phrases) {
        assert.ok(
          e.message.includes(p),
          `${e.message}\n  lacks: ${p}`,
        );
      }
      return true;
    },
  );
}

const expected = new Map([["w", [2, 3]], ["b", [2]]]);

Deno.test("checkTensorSet accepts an exact match", () => {
  checkTensorSet(fileWith({ b: [2], w: [2, 3] }), expected, "ckpt.safetensors");
});

Deno.test("checkTensorSet reports missing names", () => {
  assertSetMismatch(fileWith({ w: [2, 3] }), expected, [
    "missing 1 tensor(s): b",
  ]);
});

Deno.test("checkTensorSet reports extra names", () => {
  assertSetMismatch(fileWith({ w: [2, 3], b: [2], c: [1], d: [] }), expected, [
    "unexpected 2 tensor(s): c, d",
  ]);
});

Deno.test("checkTensorSet reports wrong shapes, expected vs found", () => {
  assertSetMismatch(fileWith({ w: [3, 2], b: [] }), expected, [
    "w expected [2,3] but found [3,2]",
    "b expected [2] but found []",
  ]);
});

Deno.test("checkTensorSet lists every kind of problem at once", () => {
  assertSetMismatch(fileWith({ w: [6], x: [1] }), expected, [
    "missing 1 tensor(s): b",
    "unexpected 1 tensor(s): x",
    "w expected [2,3] but found [6]",
  ]);
});

// ---------------------------------------------------------------- atomic writes

const tempFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".tmp"));

Deno.test("writeSafetensors writes a whole file and leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "ckpt.safetensors");
    const tensors = {
      w: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    };
    await writeSafetensors(path, tensors, { step: "1" });
    assert.deepEqual(
      await Deno.readFile(path),
      encodeSafetensors(tensors, { step: "1" }),
    );
    assert.deepEqual(readdirSync(dir), ["ckpt.safetensors"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeSafetensors replaces an existing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "ckpt.safetensors");
    await Deno.writeTextFile(
      path,
      "old contents that are longer than the new file ".repeat(50),
    );
    await writeSafetensors(path, {
      b: { shape: [1], data: new Float32Array([5]) },
    });
    const file = await readSafetensors(path);
    assert.deepEqual([...file.tensors.get("b")!.data], [5]);
    assert.deepEqual(tempFiles(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the old file is never written in place (replaced by rename)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A hard link shares the target's inode: a writer that truncated and
    // rewrote the target in place would change what the link sees too.
    const path = join(dir, "ckpt.safetensors");
    await Deno.writeTextFile(path, "old");
    await Deno.link(path, join(dir, "link"));
    await writeFileAtomic(path, "new");
    writeFileAtomicSync(path, "newer");
    assert.equal(await Deno.readTextFile(join(dir, "link")), "old");
    assert.equal(await Deno.readTextFile(path), "newer");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writing into a missing directory fails, naming the path, and creates nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "no", "such", "dir", "ckpt.safetensors");
    await assert.rejects(
      writeSafetensors(path, {
        b: { shape: [1], data: new Float32Array([5]) },
      }),
      (e: Error) => e.message.startsWith(`cannot write ${path}: no such file or directory`),
    );
    assert.deepEqual(readdirSync(dir), []);
    assert.throws(
      () => writeFileAtomicSync(path, "x"),
      (e: Error) => e.message.includes(path),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed rename removes the temp file and keeps the target", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A non-empty directory cannot be replaced by a file, so the rename fails
    // after the temp file has been fully written.
    const path = join(dir, "target");
    await Deno.mkdir(path);
    await Deno.writeTextFile(join(path, "keep"), "kept");
    await assert.rejects(
      writeFileAtomic(path, "data"),
      (e: Error) => e.message.startsWith(`cannot write ${path}: `),
    );
    assert.throws(
      () => writeFileAtomicSync(path, "data"),
      (e: Error) => e.message.startsWith(`cannot write ${path}: `),
    );
    assert.deepEqual(readdirSync(dir), ["target"]);
    assert.equal(await Deno.readTextFile(join(path, "keep")), "kept");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomicSync writes strings and bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "note.txt");
    writeFileAtomicSync(path, "héllo");
    assert.equal(await Deno.readTextFile(path), "héllo");
    writeFileAtomicSync(path, new Uint8Array([104, 105]));
    assert.equal(await Deno.readTextFile(path), "hi");
    assert.deepEqual(readdirSync(dir), ["note.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGKILL during repeated writes never leaves a torn target", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "big.bin");
    const size = 32 << 20;
    await Deno.writeFile(path, new Uint8Array(size).fill(1));
    // The child rewrites the target forever, alternating fill bytes 2 and 3,
    // so whenever it is killed it is most likely in the middle of a write.
    const module = new URL("../ops/formats/atomic_write.ts", import.meta.url).href;
    const script = `import { writeFileAtomic } from ${JSON.stringify(module)};
      const a = new Uint8Array(${size}).fill(2), b = new Uint8Array(${size}).fill(3);
      console.log("ready");
      for (let i = 0;; i++) await writeFileAtomic(${JSON.stringify(path)}, i % 2 ? b : a);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
    const reader = child.stdout.getReader();
    await reader.read(); // "ready"
    await new Promise((r) => setTimeout(r, 400));
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();

    const after = await Deno.readFile(path);
    assert.equal(after.length, size);
    assert.ok([1, 2, 3].includes(after[0]), `unexpected fill ${after[0]}`);
    assert.ok(
      after.every((b) => b === after[0]),
      "target is a mix of two writes",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
