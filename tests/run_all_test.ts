// The test runner reports a process that dies: file, test, signal, last output.
import assert from "node:assert/strict";
import { join } from "node:path";

Deno.test("a test process that dies is named with its test, signal and last output", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "dies_test.ts");
  await Deno.writeTextFile(
    file,
    `Deno.test("lives", () => {});\n` +
      `Deno.test("dies", () => { console.log("last words"); Deno.kill(Deno.pid, "SIGKILL"); });\n`,
  );
  const passing = join(dir, "passes_test.ts");
  await Deno.writeTextFile(passing, `Deno.test("fine", () => {});\n`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./run_all.ts", import.meta.url).pathname, file, passing],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 1, text);
  assert.match(text, /CRASH: .*dies_test\.ts died with signal SIGKILL while running "dies"/);
  assert.match(text, /\| last words/);
  assert.match(text, /^2 passed, 1 failed$/m, "the file that lived counts its tests");
});
