/**
 * DiscoGAN for Deno: learn to translate images between two domains from
 * unpaired examples (Kim et al., ICML 2017), proven against PyTorch.
 *
 * @example
 * ```ts
 * import { createDiscoGan, createTrainingState, discoGanIteration, useBackend } from "./mod.ts";
 * import { tf } from "./ops/tf.ts"; // published as "@discogan/discogan/tf"
 * await useBackend("wasm");
 * const state = createTrainingState(createDiscoGan({ ngf: 8, ndf: 8 }));
 * const zeros = () => tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
 * const batch = { realA: zeros(), realB: zeros() };
 * console.log(await discoGanIteration(state, batch));
 * ```
 * @module
 */
export type { KernelConfig, Scalar, Tensor, Tensor4D, Variable } from "./ops/tf.ts";
export * from "./ops/runtime/backend.ts";
export type { ConvPrecision } from "./ops/runtime/onednn/conv_kernels.ts";
export * from "./ops/runtime/webgpu_device.ts";
export * from "./ops/adam.ts";
export * from "./ops/gradients.ts";
export * from "./ops/minimize.ts";
export * from "./ops/losses.ts";
export * from "./ops/instance_norm.ts";
export * from "./ops/batch_norm.ts";
export * from "./ops/norm_act.ts";
export * from "./ops/leaky_relu.ts";
export * from "./ops/padding.ts";
export * from "./ops/upsample.ts";
export * from "./ops/upsample_conv.ts";
export * from "./ops/conv.ts";
export * from "./ops/runtime/filter_grad.ts";
export * from "./ops/runtime/filter_bias_grad.ts";
export * from "./ops/runtime/add_in_place.ts";
export * from "./ops/formats/safetensors.ts";
export * from "./ops/formats/atomic_write.ts";
export * from "./ops/formats/tfevents.ts";
export * from "./ops/formats/base64.ts";
export * from "./ops/formats/onnx.ts";
export * from "./models/options.ts";
export * from "./models/network.ts";
export * from "./models/unet.ts";
export * from "./models/patchgan.ts";
export * from "./models/resnet.ts";
export * from "./models/paper_generator.ts";
export * from "./models/paper_discriminator.ts";
export * from "./models/discogan.ts";
export * from "./models/weights.ts";
export * from "./models/onnx_layers.ts";
export * from "./pipeline/training_state.ts";
export * from "./pipeline/fake_pool.ts";
export * from "./pipeline/run_lock.ts";
export * from "./pipeline/data_manifest.ts";
export * from "./pipeline/memory_check.ts";
export * from "./pipeline/iteration.ts";
export * from "./pipeline/run_training.ts";
export * from "./pipeline/image_tensors.ts";
export * from "./pipeline/default_dataset.ts";
export * from "./pipeline/image_folder.ts";
export * from "./pipeline/batch_source.ts";
export * from "./pipeline/memory_source.ts";
export * from "./pipeline/options.ts";
export * from "./pipeline/presets.ts";
export * from "./pipeline/record.ts";
export * from "./pipeline/operators.ts";
export type { Observable, OperatorFunction } from "./pipeline/rx.ts";
export * from "./pipeline/checkpoint.ts";
export * from "./pipeline/run_dir.ts";
export * from "./pipeline/sinks/metrics_sink.ts";
export * from "./pipeline/sinks/progress_sink.ts";
export * from "./pipeline/sinks/sample_sink.ts";
export * from "./pipeline/sinks/checkpoint_sink.ts";
export * from "./pipeline/sinks/tensorboard_sink.ts";
export * from "./pipeline/sinks/report_sink.ts";
export * from "./pipeline/report.ts";
export * from "./pipeline/local_server.ts";
export * from "./pipeline/dashboard.ts";
export * from "./pipeline/sinks/dashboard_sink.ts";
export * from "./pipeline/sinks/run_sinks.ts";
export * from "./pipeline/precision.ts";
export * from "./pipeline/train.ts";
export * from "./pipeline/translate.ts";
export * from "./pipeline/export_onnx.ts";
export * from "./pipeline/demo.ts";
export * from "./pipeline/torch_command.ts";
