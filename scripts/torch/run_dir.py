"""A Deno trainer's run directory, read and written as the trainer does: options.json,
data.json, checkpoints/iter_NNNNNNN/ (four state_dicts, both Adams, the pools,
state.json), metrics.jsonl and the .lock the trainer takes (pipeline/run_lock.ts)."""

import datetime
import fcntl
import json
import os
import re
import shutil
import socket
import sys

import torch

from safetensors_io import read_safetensors, write_safetensors

ROLES = ("g_ab", "g_ba", "d_a", "d_b")
_CHECKPOINT = re.compile(r"^iter_(\d+)$")


class RunError(Exception):
    """A run directory that cannot be continued: the message says which file and why."""


def read_json(path, what):
    """A JSON file of the run, or a RunError naming it and saying what it should have been."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise RunError(f"{path}: {what} ({e})") from e


def read_options(run_dir):
    return read_json(os.path.join(run_dir, "options.json"),
                     f"cannot read the run's options; is {run_dir} a run directory written by "
                     "deno task train?")


def list_checkpoints(run_dir):
    """Complete checkpoint folders (with state.json), oldest first."""
    folder = os.path.join(run_dir, "checkpoints")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [(int(m.group(1)), n) for n in names if (m := _CHECKPOINT.match(n))
             and os.path.isfile(os.path.join(folder, n, "state.json"))]
    return [os.path.join(folder, n) for _, n in sorted(found)]


# TF.js keeps conv filters [kh, kw, a, b]; PyTorch [b, a, kh, kw]. The trainer stores Adam's
# moments flat in the TF.js layout of their parameter.
def _moment_to_torch(flat, torch_shape):
    if len(torch_shape) != 4:
        return flat.reshape(torch_shape)
    b, a, kh, kw = torch_shape
    return flat.reshape(kh, kw, a, b).permute(3, 2, 0, 1).contiguous()


def _moment_from_torch(t):
    return (t.permute(2, 3, 1, 0) if t.dim() == 4 else t).contiguous().flatten()


def _named_params(nets):
    for role, net in zip(ROLES, nets):
        for name, p in net.named_parameters():
            yield role, f"{role}.{name}", p


def load_checkpoint(path, trainer):
    """Loads the networks, both Adams, the pools and the iteration; returns state.json."""
    info = read_json(os.path.join(path, "state.json"), "not a readable checkpoint")
    nets = (trainer.g_ab, trainer.g_ba, trainer.d_a, trainer.d_b)
    for role, net in zip(ROLES, nets):
        file = os.path.join(path, f"{role}.safetensors")
        tensors, _ = read_safetensors(file)
        state = net.state_dict()
        missing = [k for k in state if k not in tensors]
        extra = [k for k in tensors if k not in state]
        wrong = [k for k in state if k in tensors and list(tensors[k].shape) != list(state[k].shape)]
        if missing or extra or wrong:
            raise RunError(f"{file} does not fit the run's {net.kind} network: missing "
                           f"{missing[:3]}, unexpected {extra[:3]}, wrong shape {wrong[:3]}")
        net.load_state_dict({k: tensors[k].to(state[k].dtype) for k in state})
    for side, opt, group in (("g", trainer.g_opt, (0, 1)), ("d", trainer.d_opt, (2, 3))):
        file = os.path.join(path, f"adam_{side}.safetensors")
        tensors, meta = read_safetensors(file)
        step = int(meta.get("step", 0))
        for role, name, p in _named_params(nets):
            if ROLES.index(role) not in group:
                continue
            m, v = tensors.get(f"m.{name}"), tensors.get(f"v.{name}")
            if m is None or v is None or m.numel() != p.numel():
                raise RunError(f"{file}: Adam's moments of {name} are missing or mis-sized")
            opt.state[p] = {"step": torch.tensor(float(step)),
                            "exp_avg": _moment_to_torch(m, p.shape).to(p.device),
                            "exp_avg_sq": _moment_to_torch(v, p.shape).to(p.device)}
    pools_file = os.path.join(path, "pools.safetensors")
    pools = read_safetensors(pools_file)[0] if os.path.exists(pools_file) else {}
    for domain, pool in trainer.pools.items():
        saved = pools.get(domain)
        pool.restore(None if saved is None else saved.to(_device(trainer)))
    trainer.iteration = info["iteration"]
    trainer.seed = info["seed"]
    return info


def _device(trainer):
    return next(trainer.g_ab.parameters()).device


def save_checkpoint(run_dir, trainer, epoch, next_batch):
    """Writes checkpoints/iter_NNNNNNN as the trainer does: a temporary folder, state.json
    last, then renamed into place, so a kill never leaves a partial checkpoint."""
    folder = os.path.join(run_dir, "checkpoints")
    name = f"iter_{trainer.iteration:07d}"
    final = os.path.join(folder, name)
    temp = os.path.join(folder, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    os.makedirs(temp)
    nets = (trainer.g_ab, trainer.g_ba, trainer.d_a, trainer.d_b)
    for role, net in zip(ROLES, nets):
        # num_batches_tracked is a float32 scalar in our files (int64 in PyTorch's).
        write_safetensors(os.path.join(temp, f"{role}.safetensors"),
                          {k: v.float() for k, v in net.state_dict().items()},
                          {"format": "pt", "kind": net.kind})
    for side, opt, roles in (("g", trainer.g_opt, ("g_ab", "g_ba")),
                             ("d", trainer.d_opt, ("d_a", "d_b"))):
        moments, step = {}, 0
        params = [(name, p) for role, name, p in _named_params(nets) if role in roles]
        for kind, key in (("m", "exp_avg"), ("v", "exp_avg_sq")):
            for name, p in params:
                state = opt.state.get(p, {})
                moments[f"{kind}.{name}"] = _moment_from_torch(
                    state[key] if key in state else torch.zeros_like(p))
                step = max(step, int(state.get("step", 0)))
        write_safetensors(os.path.join(temp, f"adam_{side}.safetensors"), moments,
                          {"step": str(step)})
    pools = {d: s for d, p in trainer.pools.items() if (s := p.snapshot()) is not None}
    if pools:
        write_safetensors(os.path.join(temp, "pools.safetensors"), pools)
    info = {"iteration": trainer.iteration, "epoch": epoch, "nextBatch": next_batch,
            "seed": trainer.seed,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat()
            .replace("+00:00", "Z")}
    _write_atomic(os.path.join(temp, "state.json"), json.dumps(info, indent=2) + "\n")
    aside = temp + ".old"
    replaced = os.path.isdir(final)
    if replaced:
        os.rename(final, aside)
    os.rename(temp, final)
    _sync_dir(folder)
    if replaced:
        shutil.rmtree(aside)
    return final


def prune_checkpoints(run_dir, keep):
    for path in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)


def _write_atomic(path, text):
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def _sync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


class Metrics:
    """metrics.jsonl, kept up to `resume_from` (later lines are dropped, as the trainer's
    metrics sink does on resume), then appended one whole line per iteration."""

    def __init__(self, run_dir, resume_from):
        self.path = os.path.join(run_dir, "metrics.jsonl")
        kept, last = [], 0
        if os.path.exists(self.path):
            with open(self.path) as f:
                for raw in f:
                    try:
                        line = json.loads(raw)
                    except ValueError:
                        continue  # a torn last line
                    it = line.get("iteration")
                    if isinstance(it, int) and last < it <= resume_from:
                        kept.append(raw if raw.endswith("\n") else raw + "\n")
                        last = it
        _write_atomic(self.path, "".join(kept))
        self.file = open(self.path, "a")

    def write(self, line):
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()

    def close(self):
        os.fsync(self.file.fileno())
        self.file.close()


class RunLock:
    """The trainer's lock: flock on RUN_DIR/.lock with a note naming the holder; a second
    writer is refused (a live `deno task train` on the same run included)."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, ".lock")
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            note = self.file.read().strip()
            self.file.close()
            raise RunError(f"{run_dir} is being written by another process ({note or 'unknown'}): "
                           "wait for it to finish or stop it")
        self.me = {"pid": os.getpid(), "host": socket.gethostname(),
                   "since": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   "command": " ".join([sys.executable] + sys.argv)}
        self._note(self.me)

    def _note(self, note):
        self.file.seek(0)
        self.file.truncate()
        self.file.write(json.dumps(note) + "\n")
        self.file.flush()

    def release(self):
        if self.file.closed:
            return
        self._note({**self.me, "pid": 0})
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
