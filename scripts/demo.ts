// `deno task demo`: a page that translates images in the browser, served here
// or written as static files.
import { useBackend } from "../ops/runtime/backend.ts";
import { OptionError } from "../pipeline/options.ts";
import { buildDemoSite, serveDemoSite, writeDemoSite } from "../pipeline/demo.ts";
import { parseFlags } from "./cli_args.ts";

const HELP = `Translate images in the browser with a trained DiscoGAN generator.

Usage: deno task demo [--checkpoint RUN_OR_CHECKPOINT] [--port 8000] [--host 127.0.0.1]
       deno task demo [--checkpoint RUN_OR_CHECKPOINT] --out DIR

  --checkpoint PATH   a run directory (its newest checkpoint) or a checkpoint folder; without
                      it, the page asks for a .onnx model made by deno task export
  --port N            the port to serve on (default 8000; 0 picks a free one)
  --host ADDR         the address to bind (default 127.0.0.1)
  --out DIR           write the site to DIR as static files, and exit
  --help              this text

The page takes images (picked or dropped), translates them A to B or B to A with the
checkpoint's generators exported to ONNX, and shows each next to its translation. It runs
onnxruntime-web in the browser: WebGPU where present, else WebAssembly; nothing is uploaded.`;

if (import.meta.main) {
  try {
    const { values, positionals } = parseFlags(Deno.args, {
      checkpoint: "string",
      port: "number",
      host: "string",
      out: "string",
      help: "boolean",
    });
    if (values.help) {
      console.log(HELP);
      Deno.exit(0);
    }
    if (positionals.length) {
      throw new OptionError(positionals[0], "unexpected argument: pass the run as --checkpoint");
    }
    const port = (values.port as number | undefined) ?? 8000;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new OptionError("--port", `expected a port from 0 to 65535, got ${port}`);
    }
    // Weights are read on the plain cpu backend: no native library is needed to export.
    await useBackend("cpu");
    const site = await buildDemoSite(values.checkpoint as string | undefined);
    const what = site.info.checkpoint
      ? `${site.info.generator} generators of ${site.info.checkpoint}`
      : "no model (the page asks for one)";
    if (values.out) {
      await writeDemoSite(site, values.out as string);
      const bytes = [...site.files.values()].reduce((n, f) => n + f.length, 0);
      console.error(
        `wrote ${site.files.size} files (${(bytes / 2 ** 20).toFixed(1)} MiB) to ${values.out}: ` +
          `${what}; serve the folder with any web server`,
      );
      Deno.exit(0);
    }
    let server;
    try {
      server = serveDemoSite(site, {
        port,
        host: values.host as string | undefined,
        onError: (e) => console.error(`demo: ${(e as Error).message}`),
      });
    } catch (e) {
      throw new OptionError("--port", `cannot serve on ${port}: ${(e as Error).message}`);
    }
    console.log(`demo of ${what}: ${server.url} (Ctrl-C to stop)`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(e instanceof OptionError ? 2 : 1);
  }
}
