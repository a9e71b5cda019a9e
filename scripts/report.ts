// `deno task report RUN_DIR...`: writes RUN_DIR/report.html for each run
// directory (a run writes its own at every checkpoint and at the end; this is
// for runs from before, or to refresh one).
import { writeReport } from "../pipeline/report.ts";

if (import.meta.main) {
  if (!Deno.args.length || Deno.args.includes("--help")) {
    console.log("Usage: deno task report RUN_DIR [RUN_DIR...]\n\nWrites RUN_DIR/report.html.");
    Deno.exit(Deno.args.length ? 0 : 2);
  }
  for (const root of Deno.args) {
    const exists = await Deno.stat(`${root}/options.json`).then(() => true, () => false);
    if (!exists) {
      console.error(`error: ${root} is not a run directory (no options.json)`);
      Deno.exit(2);
    }
    console.log(await writeReport(root));
  }
  Deno.exit(0);
}
