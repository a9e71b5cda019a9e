import assert from "node:assert/strict";
import { applyPrecision } from "../pipeline/precision.ts";
import { oneDnnPrecision } from "../ops/runtime/onednn/conv_kernels.ts";

Deno.test("applyPrecision sets the convolutions' precision, and names --precision when it cannot", () => {
  try {
    applyPrecision("bf16", "onednn");
    assert.equal(oneDnnPrecision(), "bf16");
    applyPrecision("fp32", "wasm");
    assert.equal(oneDnnPrecision(), "fp32");
    assert.throws(
      () => applyPrecision("fp16", "onednn"),
      /--precision: unknown "fp16": choose fp32 or bf16/,
    );
    assert.throws(
      () => applyPrecision("bf16", "blas"),
      /--precision: bf16 needs the onednn backend, and this run's is blas/,
    );
    assert.equal(oneDnnPrecision(), "fp32");
  } finally {
    applyPrecision("fp32", "onednn");
  }
});

// Each entry point that trains must apply the option, not only parse it: on
// wasm, bf16 is refused before any training starts.
// (train() is checked in tests/bf16_test.ts.)
for (const script of ["scripts/eval_glyphs.ts", "scripts/eval_toy.ts"]) {
  Deno.test(`${script} refuses --precision bf16 on the wasm backend`, async () => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, "--backend", "wasm", "--precision", "bf16", "--iterations", "1"],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.notEqual(code, 0);
    assert.match(
      new TextDecoder().decode(stderr),
      /--precision: bf16 needs the onednn backend, and this run's is wasm/,
    );
  });
}
