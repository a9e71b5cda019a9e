#!/usr/bin/python3
"""Continue a Deno trainer's run in PyTorch, on one process or many (torchrun), and leave it
ready to continue in Deno again.

  torchrun --standalone --nproc_per_node N scripts/torch/train_ddp.py RUN_DIR [--iterations N]
  python3 scripts/torch/train_ddp.py RUN_DIR --one-step BATCH.safetensors --out DIR

It reads RUN_DIR/options.json (every option, presets already expanded), the newest
checkpoint (the four networks with BatchNorm statistics, both Adams with their moments and
step, the pools of past fakes, the iteration, the position in the data order, the seed) and
data.json (the image files). Each rank takes its rows of every global batch (batchSize must
divide by the number of ranks), drawn from the trainer's own seeded order, crops and flips;
gradients are averaged over the ranks before each Adam step (gloo on CPU, NCCL on GPUs).
Rank 0 holds the run's lock, appends to metrics.jsonl and writes checkpoints in the trainer's
format every checkpointEvery iterations and at the end, so `deno task train --resume RUN_DIR`,
`deno task translate` and `deno task report` carry on from them.

Where the processes differ from one Deno process: dropout masks come from PyTorch's
generator; BatchNorm and feature matching see each rank's rows, not the whole batch (the
running statistics are averaged over the ranks before a checkpoint).

--one-step runs one iteration on the given batch (tensors realA, realB, NHWC in [-1, 1]) in
one process, with dropout off unless --dropout, and writes DIR/checkpoints/iter_N and
DIR/losses.json: the equivalence check against the Deno trainer's iteration.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from data import BatchDraws, DataError  # noqa: E402
from networks import build_networks  # noqa: E402
from objective import Trainer  # noqa: E402
from run_dir import (Metrics, RunError, RunLock, list_checkpoints, load_checkpoint,  # noqa: E402
                     prune_checkpoints, read_json, read_options, save_checkpoint)
from safetensors_io import read_safetensors  # noqa: E402


class DistributedReduce:
    """Averages over the ranks: gradients (as DDP's all-reduce), losses, BatchNorm buffers."""

    def __init__(self):
        self.world = dist.get_world_size()
        self.rank = dist.get_rank()

    def gradients(self, params):
        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def scalars(self, values):
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(t)
        return {k: float(v) / self.world for k, v in zip(keys, t)}

    def gather(self, x):
        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    def buffers(self, nets):
        for net in nets:
            for name, b in net.named_buffers():
                if b.is_floating_point():
                    dist.all_reduce(b)
                    b /= self.world


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="a run directory written by deno task train")
    p.add_argument("--iterations", type=int,
                   help="the iteration count to reach (default: the run's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--one-step", metavar="BATCH", help="one iteration on this batch file")
    p.add_argument("--out", help="with --one-step: where the result goes")
    p.add_argument("--dropout", action="store_true", help="with --one-step: dropout on")
    p.add_argument("--total", type=int, help="with --one-step: the run's total iterations")
    return p.parse_args()


def device_for(choice):
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def one_step(args):
    o = read_options(args.run_dir)
    checkpoints = list_checkpoints(args.run_dir)
    if not checkpoints:
        raise RunError(f"{args.run_dir} has no checkpoint")
    device = device_for(args.device)
    trainer = Trainer(o, [n.to(device) for n in build_networks(o)], dropout=args.dropout)
    info = load_checkpoint(checkpoints[-1], trainer)
    trainer.total = args.total
    batch, _ = read_safetensors(args.one_step)
    real_a, real_b = (batch[k].permute(0, 3, 1, 2).contiguous().to(device)
                      for k in ("realA", "realB"))
    losses = trainer.iteration_step(real_a, real_b)
    os.makedirs(os.path.join(args.out, "checkpoints"), exist_ok=True)
    shutil.copy(os.path.join(args.run_dir, "options.json"), args.out)
    save_checkpoint(args.out, trainer, info["epoch"], info["nextBatch"] + 1)
    with open(os.path.join(args.out, "losses.json"), "w") as f:
        json.dump(losses, f)


def train(args):
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = device_for(args.device)
    if distributed:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    reduce = DistributedReduce() if distributed else None
    rank, world = (reduce.rank, reduce.world) if reduce else (0, 1)
    run = args.run_dir
    lock = RunLock(run) if rank == 0 else None
    try:
        o = read_options(run)
        batch = o["batchSize"]
        if batch % world:
            raise RunError(f"batchSize {batch} does not divide among {world} processes: "
                           "choose --nproc_per_node dividing it")
        checkpoints = list_checkpoints(run)
        if not checkpoints:
            raise RunError(f"{run} has no checkpoint to continue from: train it here first "
                           "(deno task train ... --iterations 1)")
        nets = [n.to(device) for n in build_networks(o)]
        trainer = Trainer(o, nets, reduce)
        info = load_checkpoint(checkpoints[-1], trainer)
        # Per-rank dropout masks, reproducible from the run's seed.
        torch.manual_seed(trainer.seed * 1_000_003 + info["iteration"] * 64 + rank)
        manifest = read_json(os.path.join(run, "data.json"), "cannot read the run's file list")
        draws = BatchDraws(o, manifest, on_skip=lambda m: print(m, file=sys.stderr))
        total = args.iterations or o.get("iterations") or o["epochs"] * draws.batches_per_epoch
        trainer.total = total
        per = batch // world
        rows = range(rank * per, (rank + 1) * per)
        metrics = Metrics(run, info["iteration"]) if rank == 0 else None
        if rank == 0:
            print(f"continuing {run} from {checkpoints[-1]} on {world} process(es), {device}: "
                  f"iterations {trainer.iteration}..{total}, {per} of {batch} images each",
                  file=sys.stderr)
            if o.get("precision", "fp32") != "fp32":
                print(f"note: the run trained with precision {o['precision']} in Deno; PyTorch "
                      "continues it in fp32", file=sys.stderr)
        stop = []
        signal.signal(signal.SIGINT, lambda *_: stop.append(True))
        index, epoch = info["nextBatch"], info["epoch"]
        every = o.get("checkpointEvery", 0)
        while trainer.iteration < total and not stop:
            started = time.perf_counter()
            real_a, real_b = (t.to(device) for t in draws.rows(index, rows))
            losses = trainer.iteration_step(real_a, real_b)
            epoch = draws.epoch(index)
            index += 1
            seconds = time.perf_counter() - started
            if metrics:
                metrics.write({
                    "iteration": trainer.iteration, "epoch": epoch, **losses,
                    "sec_per_iter": round(seconds, 4),
                    "images_per_sec": round(2 * batch / seconds, 4),
                    "skipped_images": len(draws.bad),
                    "time": datetime.datetime.now(datetime.timezone.utc).isoformat()
                    .replace("+00:00", "Z")})
            last = trainer.iteration >= total or stop
            if last or (every and trainer.iteration % every == 0):
                if reduce:
                    reduce.buffers(nets)
                if rank == 0:
                    save_checkpoint(run, trainer, epoch, index)
                    prune_checkpoints(run, o.get("keepCheckpoints", 3))
                if reduce:
                    dist.barrier()
        if metrics:
            metrics.close()
    finally:
        if lock:
            lock.release()
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def main():
    args = parse_args()
    try:
        if args.one_step:
            if not args.out:
                raise RunError("--one-step needs --out DIR")
            one_step(args)
        else:
            train(args)
    except (RunError, DataError, FloatingPointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
