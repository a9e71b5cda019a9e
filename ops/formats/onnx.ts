/**
 * ONNX models, written without ONNX's Python tools: a small graph builder
 * (nodes, float32 initializers, typed inputs and outputs) whose result is
 * serialised as a `onnx.ModelProto` by the `onnx-proto` package (ONNX's own
 * `onnx.proto`, compiled for protobufjs).
 * @module
 */
import onnxProto from "onnx-proto";
import type { onnx as Onnx } from "onnx-proto";

const { onnx } = onnxProto;

/** The ONNX operator set the graphs here use (ONNX 1.12, IR version 8). */
export const ONNX_OPSET = 17;
const IR_VERSION = 8;

/** An attribute value: a number is an INT when integral (use {@link float} for a FLOAT). */
export type OnnxAttribute = number | string | number[] | { float: number };

/**
 * Marks a number as an ONNX FLOAT attribute (plain integral numbers become INTs).
 *
 * @example
 * ```ts
 * import { float } from "./onnx.ts";
 * const attrs = { alpha: float(0.2) };
 * ```
 */
export function float(value: number): { float: number } {
  return { float: value };
}

/** A dimension: a size, or the name of a dynamic one (such as "batch"). */
export type OnnxDim = number | string;

/**
 * A graph being built. Node outputs are named `<op>_<n>` unless given a name;
 * initializers keep the names they are given (our PyTorch parameter names),
 * so a model viewer shows `down1.model.0.weight` where the weight is used.
 *
 * @example
 * ```ts
 * import { OnnxGraph } from "./onnx.ts";
 * const g = new OnnxGraph("double");
 * const two = g.initializer("two", [1], new Float32Array([2]));
 * g.node("Mul", ["x", two], {}, "y");
 * const bytes = g.encode({
 *   inputs: [{ name: "x", dims: ["batch", 3] }],
 *   outputs: [{ name: "y", dims: ["batch", 3] }],
 * });
 * console.log(bytes.length > 0); // true
 * ```
 */
export class OnnxGraph {
  /** The graph's name. */
  readonly name: string;
  readonly #nodes: Onnx.INodeProto[] = [];
  readonly #initializers = new Map<string, Onnx.ITensorProto>();
  #count = 0;

  /** `name` is the graph's name in the model. */
  constructor(name: string) {
    this.name = name;
  }

  /**
   * Adds a float32 constant (C order) and returns its name. Adding the same
   * name twice returns it again when the shape matches, and throws otherwise.
   */
  initializer(name: string, dims: readonly number[], data: Float32Array): string {
    const known = this.#initializers.get(name);
    if (known) {
      if ((known.dims as number[]).join() !== dims.join()) {
        throw new Error(`ONNX initializer ${name} added twice with different shapes`);
      }
      return name;
    }
    const size = dims.reduce((a, b) => a * b, 1);
    if (data.length !== size) {
      throw new Error(`ONNX initializer ${name}: ${data.length} values for shape [${dims}]`);
    }
    // ONNX's raw_data is little-endian, as typed arrays are on every platform Deno runs on.
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.#initializers.set(name, {
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: raw,
    });
    return name;
  }

  /** Adds an int64 constant (shapes, pads and the like) and returns its name. */
  int64Initializer(name: string, values: readonly number[]): string {
    if (!this.#initializers.has(name)) {
      const raw = new BigInt64Array(values.map((v) => BigInt(v)));
      this.#initializers.set(name, {
        name,
        dims: [values.length],
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: new Uint8Array(raw.buffer),
      });
    }
    return name;
  }

  /**
   * Adds a node and returns the name of its (first) output. An empty string
   * in `inputs` leaves an optional input out, as ONNX spells it.
   */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, OnnxAttribute> = {},
    output?: string,
  ): string {
    const out = output ?? `${opType.toLowerCase()}_${++this.#count}`;
    this.#nodes.push({
      opType,
      name: out,
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return out;
  }

  /**
   * Serialises the graph as an ONNX model (IR version 8, opset
   * {@link ONNX_OPSET}).
   *
   * @example
   * ```ts
   * import { OnnxGraph } from "./onnx.ts";
   * const g = new OnnxGraph("identity");
   * g.node("Identity", ["x"], {}, "y");
   * const model = g.encode({
   *   inputs: [{ name: "x", dims: [1] }],
   *   outputs: [{ name: "y", dims: [1] }],
   *   metadata: { direction: "ab" },
   * });
   * ```
   */
  encode(options: OnnxModelOptions): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: "discogan-deno",
      producerVersion: "0.1.0",
      docString: options.docString,
      opsetImport: [{ domain: "", version: ONNX_OPSET }],
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({
        key,
        value,
      })),
      graph: {
        name: this.name,
        node: this.#nodes,
        initializer: [...this.#initializers.values()],
        input: options.inputs.map(valueInfo),
        output: options.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function attribute(name: string, value: OnnxAttribute): Onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === "string") {
    return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) {
    if (!value.every(Number.isInteger)) throw new Error(`ONNX attribute ${name}: ints only`);
    return { name, type: T.INTS, ints: value };
  }
  if (typeof value === "object") return { name, type: T.FLOAT, f: value.float };
  if (!Number.isInteger(value)) throw new Error(`ONNX attribute ${name}: use float() for ${value}`);
  return { name, type: T.INT, i: value };
}

/** A float32 input or output of the model, with its dimensions. */
export interface OnnxValue {
  /** Its name in the graph. */
  name: string;
  /** Its dimensions; a string names a dynamic one. */
  dims: readonly OnnxDim[];
  /** Shown by model viewers. */
  docString?: string;
}

/** What {@link OnnxGraph.encode} puts around the graph. */
export interface OnnxModelOptions {
  /** The graph's inputs (float32). */
  inputs: readonly OnnxValue[];
  /** The graph's outputs (float32). */
  outputs: readonly OnnxValue[];
  /** `metadata_props`: key/value strings that runtimes expose to users. */
  metadata?: Record<string, string>;
  /** A description of the model. */
  docString?: string;
}

function valueInfo(v: OnnxValue): Onnx.IValueInfoProto {
  return {
    name: v.name,
    docString: v.docString,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: {
          dim: v.dims.map((d) => typeof d === "number" ? { dimValue: d } : { dimParam: d }),
        },
      },
    },
  };
}

/**
 * Reads an ONNX model back (for tests and checks): its graph's node types,
 * input and output names, initializer names and metadata.
 *
 * @example
 * ```ts
 * import { decodeOnnxModel } from "./onnx.ts";
 * const model = decodeOnnxModel(await Deno.readFile("g_ab.onnx"));
 * console.log(model.opset, model.metadata.direction);
 * ```
 */
export function decodeOnnxModel(bytes: Uint8Array): {
  opset: number;
  ops: string[];
  inputs: string[];
  outputs: string[];
  initializers: string[];
  metadata: Record<string, string>;
} {
  const m = onnx.ModelProto.decode(bytes);
  const graph = m.graph as Onnx.GraphProto;
  return {
    opset: Number(m.opsetImport[0]?.version ?? 0),
    ops: graph.node.map((n) => n.opType ?? ""),
    inputs: graph.input.map((v) => v.name ?? ""),
    outputs: graph.output.map((v) => v.name ?? ""),
    initializers: graph.initializer.map((t) => t.name ?? ""),
    metadata: Object.fromEntries(m.metadataProps.map((p) => [p.key ?? "", p.value ?? ""])),
  };
}
