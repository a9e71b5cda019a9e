// The layering the README's layout section states, checked on every import:
// scripts/ -> pipeline/ -> models/ -> ops/, never the reverse; inside ops/, the
// model's maths may use ops/runtime/ and ops/formats/, which use neither the
// maths nor each other (ops/tf.ts, the one TF.js import, is for all).
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;

// The folders each folder may import from (itself included).
const ALLOWED: Record<string, string[]> = {
  "scripts": ["scripts", "pipeline", "models", "ops", "ops/runtime", "ops/formats"],
  "pipeline": ["pipeline", "models", "ops", "ops/runtime", "ops/formats"],
  "models": ["models", "ops", "ops/runtime", "ops/formats"],
  "ops": ["ops", "ops/runtime", "ops/formats"],
  "ops/runtime": ["ops/runtime"],
  "ops/formats": ["ops/formats"],
};

function layer(path: string): string | undefined {
  if (path === "ops/tf.ts") return "tf";
  for (const l of ["ops/runtime", "ops/formats", "ops", "models", "pipeline", "scripts"]) {
    if (path.startsWith(l + "/")) return l;
  }
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(join(root, dir))) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* sources(path);
    else if (e.name.endsWith(".ts")) yield path;
  }
}

Deno.test("no import goes against the layering", async () => {
  const wrong: string[] = [];
  let checked = 0;
  for (const top of ["scripts", "pipeline", "models", "ops"]) {
    for await (const file of sources(top)) {
      const from = layer(file) as string;
      const text = await Deno.readTextFile(join(root, file));
      // Static and dynamic imports and re-exports, not the examples in doc comments.
      const code = text.replace(/\/\*\*[\s\S]*?\*\//g, "");
      for (const m of code.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
        const target = normalize(join(dirname(file), m[1]));
        const to = layer(relative(".", target));
        checked++;
        if (to === "tf" || (to && ALLOWED[from].some((l) => l === to))) continue;
        wrong.push(`${file} imports ${target} (${from} -> ${to ?? "outside"})`);
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} imports found: the scan is broken`);
  assert.deepEqual(wrong, []);
});
