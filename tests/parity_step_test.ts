// One full training iteration (paired and unpaired) against PyTorch: every loss
// and every updated weight of the four networks.
import { useBackend } from "../ops/runtime/backend.ts";
import { CPU_BACKENDS } from "./fixtures.ts";
import { checkIteration } from "./iteration_check.ts";
import { backendMissing } from "./native.ts";

for (const backend of CPU_BACKENDS) {
  for (const file of ["step", "step_unpaired"] as const) {
    Deno.test({
      name: `${file}: one iteration matches PyTorch on ${backend}`,
      ignore: await backendMissing(backend, `tests/parity_step_test.ts`),
    }, async () => {
      await useBackend(backend);
      await checkIteration(file);
    });
  }
}
