// Parameter names and counts as PyTorch-GAN's networks; weights files both ways.
import assert from "node:assert/strict";
import { tf } from "../ops/tf.ts";
import { useBackend } from "../ops/runtime/backend.ts";
import { createDiscoGan, disposeDiscoGan } from "../models/discogan.ts";
import { resnetGenerator } from "../models/resnet.ts";
import { unetGenerator } from "../models/unet.ts";
import { loadNetwork, saveNetwork, stateDict } from "../models/weights.ts";
import { readSafetensors, writeSafetensors } from "../ops/formats/safetensors.ts";
import { fixture, FIXTURES } from "./fixtures.ts";

const count = (params: Map<string, tf.Variable>) =>
  [...params.values()].reduce((s, v) => s + v.size, 0);

Deno.test("full-width networks have PyTorch-GAN's parameter counts", async () => {
  await useBackend("cpu");
  const models = createDiscoGan({ ngf: 64, ndf: 64 });
  // conv(in, out, k) holds in·out·k² weights and out biases; layer list of the spec.
  const conv = (cin: number, cout: number, k = 4) => cin * cout * k * k + cout;
  const unet = conv(3, 64) + conv(64, 128) + conv(128, 256) + conv(256, 512) +
    2 * conv(512, 512) +
    conv(512, 512) + conv(1024, 512) + conv(1024, 256) + conv(512, 128) +
    conv(256, 64) + conv(128, 3);
  assert.equal(unet, 29_241_731); // the 29.24M of PyTorch-GAN's GeneratorUNet
  assert.equal(count(models.gAB.params), unet);
  const patchGan = conv(3, 64) + conv(64, 128) + conv(128, 256) + conv(256, 1);
  assert.equal(count(models.dA.params), patchGan); // 0.66M
  disposeDiscoGan(models);
  const resnet = resnetGenerator({ ngf: 64, nResidualBlocks: 9 });
  assert.equal(count(resnet.params), 11_378_179); // CycleGAN's 9-block generator
  tf.disposeVariables();
});

Deno.test("ResNet parameter names follow GeneratorResNet's nn.Sequential indices", async () => {
  await useBackend("cpu");
  const names = [
    ...resnetGenerator({ ngf: 4, nResidualBlocks: 2 }).params.keys(),
  ]
    .filter((n) => n.endsWith(".weight"));
  assert.deepEqual(names, [
    "model.1.weight",
    "model.4.weight",
    "model.7.weight",
    "model.10.block.1.weight",
    "model.10.block.5.weight",
    "model.11.block.1.weight",
    "model.11.block.5.weight",
    "model.13.weight",
    "model.17.weight",
    "model.21.weight",
  ]);
  tf.disposeVariables();
});

Deno.test("a fixture state_dict loads and writes back bit for bit in PyTorch layout", async () => {
  await useBackend("cpu");
  const g = unetGenerator({ ngf: 6 });
  await loadNetwork(`${FIXTURES}/g_ab.safetensors`, g);
  const ref = (await fixture("g_ab")).tensors;
  const ours = await stateDict(g);
  assert.deepEqual(
    [...ours.keys()],
    [...ref.keys()],
    "same names in state_dict order",
  );
  for (const [name, rec] of ours) {
    assert.deepEqual(rec.shape, ref.get(name)?.shape, name);
    assert.deepEqual(rec.data, ref.get(name)?.data, name);
  }
  const dir = await Deno.makeTempDir();
  await saveNetwork(`${dir}/g.safetensors`, g);
  const again = unetGenerator({ ngf: 6, seed: 9 });
  await loadNetwork(`${dir}/g.safetensors`, again);
  for (const [name, v] of again.params) {
    assert.deepEqual(v.dataSync(), g.params.get(name)?.dataSync(), name);
  }
  assert.equal(
    (await readSafetensors(`${dir}/g.safetensors`)).metadata.format,
    "pt",
  );
  tf.disposeVariables();
});

Deno.test("weights of another shape, or with missing or extra names, are refused naming the file", async () => {
  await useBackend("cpu");
  const wider = unetGenerator({ ngf: 8 });
  const path = `${FIXTURES}/g_ab.safetensors`;
  await assert.rejects(loadNetwork(path, wider), (e: Error) => {
    assert.match(e.message, /g_ab\.safetensors/);
    assert.match(
      e.message,
      /down1\.model\.0\.weight expected \[8,3,4,4\] but found \[6,3,4,4\]/,
    );
    return true;
  });
  const dir = await Deno.makeTempDir();
  const tensors = new Map((await fixture("g_ab")).tensors);
  tensors.delete("final.2.bias");
  tensors.set("extra.weight", { shape: [1], data: new Float32Array(1) });
  await writeSafetensors(`${dir}/bad.safetensors`, tensors);
  await assert.rejects(
    loadNetwork(`${dir}/bad.safetensors`, unetGenerator({ ngf: 6 })),
    (e: Error) => {
      assert.match(e.message, /bad\.safetensors/);
      assert.match(e.message, /missing 1 tensor\(s\): final\.2\.bias/);
      assert.match(e.message, /unexpected 1 tensor\(s\): extra\.weight/);
      return true;
    },
  );
  tf.disposeVariables();
});
