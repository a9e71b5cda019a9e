// `deno task dashboard RUNS_DIR [--port 8080] [--host 127.0.0.1]`: a live,
// read-only dashboard of every run under RUNS_DIR (or of RUNS_DIR itself when
// it is a run): runs going in other processes are followed as they write.
import { startDashboard } from "../pipeline/dashboard.ts";
import { OptionError } from "../pipeline/options.ts";
import { parseFlags } from "./cli_args.ts";

if (import.meta.main) {
  try {
    const { values, positionals } = parseFlags(Deno.args, {
      port: "number",
      host: "string",
      help: "boolean",
    });
    if (values.help || positionals.length !== 1) {
      console.log(
        "Usage: deno task dashboard RUNS_DIR [--port 8080] [--host 127.0.0.1]\n\n" +
          "Serves a live, read-only dashboard of the runs under RUNS_DIR.",
      );
      Deno.exit(values.help ? 0 : 2);
    }
    const [dir] = positionals;
    if (!(await Deno.stat(dir).then((s) => s.isDirectory, () => false))) {
      throw new OptionError(dir, "not a folder: pass the folder of runs (e.g. runs)");
    }
    const port = (values.port as number | undefined) ?? 8080;
    const dashboard = await startDashboard(dir, {
      port,
      host: values.host as string | undefined,
      onError: (e) => console.error(`dashboard: ${(e as Error).message}`),
    }).catch((e) => {
      throw new OptionError("--port", `cannot serve on ${port}: ${(e as Error).message}`);
    });
    console.log(`dashboard of ${dir}: ${dashboard.url} (Ctrl-C to stop)`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(e instanceof OptionError ? 2 : 1);
  }
}
