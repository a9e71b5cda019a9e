/**
 * TensorBoard's event files, written without TensorFlow: each record is a
 * little-endian u64 length, the masked CRC-32C of those 8 bytes, the data and
 * the masked CRC-32C of the data; the data is a serialised `tensorflow.Event`
 * protobuf message. The messages (the fields of `event.proto`, `summary.proto`
 * and `tensor.proto` we use) go through protobufjs, CRC-32C through
 * @aws-crypto/crc32c.
 * @module
 */
import protobuf from "protobufjs";
import { crc32c } from "@aws-crypto/crc32c";

// The subset of TensorFlow's messages TensorBoard reads for scalars, images and text.
const root = protobuf.Root.fromJSON({
  nested: {
    Event: {
      fields: {
        wallTime: { type: "double", id: 1 },
        step: { type: "int64", id: 2 },
        fileVersion: { type: "string", id: 3 },
        summary: { type: "Summary", id: 5 },
      },
    },
    Summary: { fields: { value: { rule: "repeated", type: "Value", id: 1 } } },
    Value: {
      fields: {
        tag: { type: "string", id: 1 },
        simpleValue: { type: "float", id: 2 },
        image: { type: "Image", id: 4 },
        tensor: { type: "TensorProto", id: 8 },
        metadata: { type: "SummaryMetadata", id: 9 },
      },
    },
    Image: {
      fields: {
        height: { type: "int32", id: 1 },
        width: { type: "int32", id: 2 },
        colorspace: { type: "int32", id: 3 },
        encodedImageString: { type: "bytes", id: 4 },
      },
    },
    TensorProto: {
      fields: {
        dtype: { type: "int32", id: 1 },
        tensorShape: { type: "TensorShapeProto", id: 2 },
        stringVal: { rule: "repeated", type: "bytes", id: 8 },
      },
    },
    TensorShapeProto: { fields: {} },
    SummaryMetadata: { fields: { pluginData: { type: "PluginData", id: 1 } } },
    PluginData: {
      fields: { pluginName: { type: "string", id: 1 }, content: { type: "bytes", id: 2 } },
    },
  },
});
const EventMessage = root.lookupType("Event");
const DT_STRING = 7;

/** One summary value of an event: a scalar, an encoded image or a text. */
export type SummaryValue =
  | { tag: string; scalar: number }
  | { tag: string; png: Uint8Array; width: number; height: number }
  | { tag: string; text: string };

/** What an event holds: the file's version line, or summary values at a step. */
export type EventContent =
  | { fileVersion: string }
  | { step: number; values: SummaryValue[] };

/**
 * The serialised `tensorflow.Event` message of `content` at `wallTime`
 * (seconds since the epoch).
 *
 * @example
 * ```ts
 * import { encodeEvent } from "./tfevents.ts";
 * const bytes = encodeEvent({ step: 1, values: [{ tag: "loss", scalar: 0.5 }] }, 1700000000);
 * console.log(bytes.length > 0); // true
 * ```
 */
export function encodeEvent(content: EventContent, wallTime: number): Uint8Array {
  const event: Record<string, unknown> = { wallTime };
  if ("fileVersion" in content) event.fileVersion = content.fileVersion;
  else {
    event.step = content.step;
    event.summary = { value: content.values.map(summaryValue) };
  }
  return EventMessage.encode(EventMessage.fromObject(event)).finish();
}

function summaryValue(v: SummaryValue): Record<string, unknown> {
  if ("scalar" in v) return { tag: v.tag, simpleValue: v.scalar };
  if ("png" in v) {
    // Colorspace 3: RGB.
    const image = { height: v.height, width: v.width, colorspace: 3, encodedImageString: v.png };
    return { tag: v.tag, image };
  }
  // The text plugin: a string tensor of rank 0, marked with the plugin's name.
  return {
    tag: v.tag,
    metadata: { pluginData: { pluginName: "text" } },
    tensor: {
      dtype: DT_STRING,
      tensorShape: {},
      stringVal: [new TextEncoder().encode(v.text)],
    },
  };
}

/**
 * The CRC-32C of `data`, masked as TensorFlow's record format masks it.
 *
 * @example
 * ```ts
 * import { maskedCrc32c } from "./tfevents.ts";
 * console.log(maskedCrc32c(new Uint8Array(0))); // 2726488792
 * ```
 */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/**
 * One record of an event file around `data`: length, its CRC, data, data CRC.
 *
 * @example
 * ```ts
 * import { encodeEvent, eventRecord } from "./tfevents.ts";
 * const record = eventRecord(encodeEvent({ fileVersion: "brain.Event:2" }, 0));
 * console.log(record.length); // data + 16 bytes of framing
 * ```
 */
export function eventRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/**
 * An open event file: `RUN_DIR/tb/events.out.tfevents.<seconds>.<host>`,
 * started with the version event TensorBoard expects. Each {@link write}
 * appends whole records, so a kill leaves at most one truncated record at the
 * end, which TensorBoard's reader skips.
 *
 * @example
 * ```ts
 * import { EventFileWriter } from "./tfevents.ts";
 * const writer = await EventFileWriter.create(await Deno.makeTempDir());
 * await writer.write({ step: 1, values: [{ tag: "loss/g", scalar: 1.5 }] });
 * writer.close();
 * ```
 */
export class EventFileWriter {
  private constructor(readonly path: string, private readonly file: Deno.FsFile) {}

  /**
   * Creates a new event file in `dir` (made if missing).
   *
   * @example
   * ```ts
   * import { EventFileWriter } from "./tfevents.ts";
   * const writer = await EventFileWriter.create(await Deno.makeTempDir());
   * console.log(writer.path.includes("events.out.tfevents.")); // true
   * writer.close();
   * ```
   */
  static async create(dir: string): Promise<EventFileWriter> {
    await Deno.mkdir(dir, { recursive: true });
    const now = Date.now() / 1000;
    let host = "localhost";
    try {
      host = Deno.hostname();
    } catch {
      // no --allow-sys: a fixed name
    }
    // A second file of the same second (a quick resume) gets its own name.
    for (let k = 0;; k++) {
      const path = `${dir}/events.out.tfevents.${Math.floor(now)}.${host}${k ? `.${k}` : ""}`;
      try {
        const file = await Deno.open(path, { write: true, createNew: true });
        const writer = new EventFileWriter(path, file);
        await writer.write({ fileVersion: "brain.Event:2" });
        return writer;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
  }

  /**
   * Appends one event (wall time now).
   *
   * @example
   * ```ts
   * import { EventFileWriter } from "./tfevents.ts";
   * const writer = await EventFileWriter.create(await Deno.makeTempDir());
   * await writer.write({ step: 0, values: [{ tag: "options", text: "{}" }] });
   * writer.close();
   * ```
   */
  async write(content: EventContent): Promise<void> {
    const record = eventRecord(encodeEvent(content, Date.now() / 1000));
    for (let done = 0; done < record.length;) {
      done += await this.file.write(record.subarray(done));
    }
  }

  /**
   * Closes the file.
   *
   * @example
   * ```ts
   * import { EventFileWriter } from "./tfevents.ts";
   * (await EventFileWriter.create(await Deno.makeTempDir())).close();
   * ```
   */
  close(): void {
    this.file.close();
  }
}
