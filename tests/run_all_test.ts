// The test runner reports a process that dies: file, test, signal, last output; and
// each file's temporary files go when it passes and stay, named, when it fails.
import assert from "node:assert/strict";
import { join } from "node:path";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("a test process that dies is named with its test, signal and last output", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "dies_test.ts");
  await Deno.writeTextFile(
    file,
    `Deno.test("lives", () => {});\n` +
      `Deno.test("dies", async () => {\n` +
      `  const evidence = await Deno.makeTempDir();\n` +
      `  await Deno.writeTextFile(evidence + "/why.txt", "what the failure left");\n` +
      `  console.log("last words");\n` +
      // Time for the test harness to pass the line on before the process dies.
      `  await new Promise((wake) => setTimeout(wake, 500));\n` +
      `  Deno.kill(Deno.pid, "SIGKILL");\n` +
      `});\n`,
  );
  const passing = join(dir, "passes_test.ts");
  await Deno.writeTextFile(
    passing,
    `Deno.test("fine", async () => console.log("made " + await Deno.makeTempDir()));\n`,
  );
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

  const made = /^made (\S+)$/m.exec(text)?.[1];
  assert.ok(made, text);
  assert.equal(await exists(made), false, "a passing file's temporary directory is removed");
  const kept = /dies_test\.ts failed: its temporary files are kept in (\S+)$/m.exec(text)?.[1];
  assert.ok(kept, text);
  const left = [];
  for await (const entry of Deno.readDir(kept)) left.push(join(kept, entry.name, "why.txt"));
  assert.equal(left.length, 1, `the dying test's directory, in ${kept}`);
  assert.equal(await Deno.readTextFile(left[0]), "what the failure left");
  await Deno.remove(kept, { recursive: true });
  await Deno.remove(dir, { recursive: true });
});
