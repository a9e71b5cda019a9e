#!/usr/bin/python3
"""PyTorch side of `deno task bench`: one DiscoGAN iteration, timed.

The networks are the trainer's, from networks.py beside this file (the PyTorch bridge's):
by default PyTorch-GAN's discogan U-Net generators and PatchGAN discriminators;
--generator resnet|paper and --discriminator paper swap in the ResNet generator (9 blocks)
or the paper's networks (BatchNorm unless --norm instance), with the same iteration. One
iteration = four generator passes, the discriminator step (BCE with logits on detached
fakes, Adam over D_A and D_B), then the generator step judged by the updated
discriminators (GAN + 10 * cycle MSE, Adam over G_AB and G_BA); Adam lr 2e-4,
betas (0.5, 0.999). Dropout is on (train mode), as in training.

One configuration per process (scripts/bench.ts starts one per configuration), so the
peak RSS is that configuration's. Prints JSON lines on stdout, the same events as
scripts/bench_worker.ts: "ready", one "iteration" per iteration, then "done" (or
"too-slow" / "error"). On a CUDA machine it runs on the GPU, with
torch.cuda.synchronize() around every timing.

BLAS. Debian's python3-torch (1.13.1) does its CPU matrix products through the system
BLAS (libblas.so.3 / libopenblas.so.0, chosen by update-alternatives). On our 2-core
build machine the alternatives pointed at libopenblas0-pthread, whose own threads fight
PyTorch's OpenMP threads for the cores (64 px b1: ~1.7 s instead of ~1.05 s), while
Debian's reference BLAS is 3-4x slower. So by default (--blas auto) this script re-executes
itself with LD_LIBRARY_PATH pointing at the OpenMP build of OpenBLAS
(/usr/lib/<arch>/openblas-openmp, package libopenblas0-openmp), which shares PyTorch's
OpenMP pool: PyTorch's best numbers, without changing the system's alternatives.
Without that package and with the pthread build active, it sets OPENBLAS_NUM_THREADS=1
instead. --blas system keeps the environment as it is. The BLAS actually loaded is read
from /proc/self/maps and reported ("blas" in the JSON, and in the bench's table header).

  /usr/bin/python3 scripts/torch/bench.py --image-size 64 --batch-size 1 \
      [--ngf 64 --ndf 64 --generator unet --discriminator patchgan --iterations 5 \
       --warmup 2 --budget 120 --threads 2]
  /usr/bin/python3 scripts/torch/bench.py --info           # versions, device, BLAS
  /usr/bin/python3 scripts/torch/bench.py --check-params   # parameter counts
"""

import argparse
import glob
import json
import os
import platform
import re
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_REEXEC_MARK = "DISCOGAN_BENCH_TORCH_BLAS"


def _multiarch_lib_dirs():
    machine = platform.machine()
    return [d for d in glob.glob(f"/usr/lib/{machine}-linux-gnu") if os.path.isdir(d)] + [
        "/usr/lib64",
        "/usr/lib",
    ]


def _system_blas():
    """The file the system's libblas.so.3 resolves to (update-alternatives' choice)."""
    for d in _multiarch_lib_dirs():
        p = os.path.join(d, "libblas.so.3")
        if os.path.exists(p):
            return os.path.realpath(p)
    return None


def _choose_blas_env(mode):
    """(env changes, description) for the BLAS `mode` asks for."""
    if mode == "system":
        return {}, "system BLAS as configured"
    openmp = None
    for d in _multiarch_lib_dirs():
        cand = os.path.join(d, "openblas-openmp")
        if os.path.exists(os.path.join(cand, "libblas.so.3")):
            openmp = cand
            break
    if mode in ("auto", "openmp") and openmp:
        old = os.environ.get("LD_LIBRARY_PATH")
        return (
            {"LD_LIBRARY_PATH": openmp + (":" + old if old else "")},
            f"OpenBLAS OpenMP build via LD_LIBRARY_PATH={openmp}",
        )
    if mode == "openmp":
        raise SystemExit("--blas openmp: libopenblas0-openmp is not installed")
    system = _system_blas() or ""
    if "openblas" in system and "openmp" not in system:
        return {"OPENBLAS_NUM_THREADS": "1"}, "OpenBLAS pthread build, OPENBLAS_NUM_THREADS=1"
    return {}, "system BLAS as configured"


def _reexec_with_blas(mode):
    """Restarts this script with the chosen BLAS environment (LD_LIBRARY_PATH must be set
    before the process starts). Runs once: the marker variable stops the second time."""
    if os.environ.get(_REEXEC_MARK) is not None:
        return os.environ[_REEXEC_MARK]
    changes, description = _choose_blas_env(mode)
    env = dict(os.environ, **changes)
    env[_REEXEC_MARK] = description
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)
    return description  # not reached


def loaded_blas():
    """The BLAS / LAPACK / OpenMP libraries mapped into this process."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if re.search(r"blas|lapack|mkl|dnnl|gomp|iomp", os.path.basename(path)):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def describe_blas(libs):
    """A short name for the BLAS in `libs`, e.g. "OpenBLAS 0.3.21 (openmp)"."""
    for p in libs:
        m = re.search(r"/openblas-(openmp|pthread|serial)/libopenblasp?-r([\d.]+)\.so", p)
        if m:
            return f"OpenBLAS {m.group(2)} ({m.group(1)})"
    for p in libs:
        if "mkl" in p:
            return "MKL"
    for p in libs:
        if re.search(r"/blas/libblas\.so", p):
            return "reference BLAS"
    for p in libs:
        if "blas" in os.path.basename(p):
            return os.path.basename(p)
    return "unknown"


def peak_rss_bytes():
    """Peak resident set size: VmHWM (this process image), else ru_maxrss (KiB on Linux)."""
    try:
        with open("/proc/self/status") as f:
            m = re.search(r"^VmHWM:\s+(\d+)\s+kB", f.read(), re.M)
            if m:
                return int(m.group(1)) * 1024
    except OSError:
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def emit(event):
    print(json.dumps(event), flush=True)


def build(torch, nn, channels, ngf, ndf, generator="unet", discriminator="patchgan", size=64,
          norm="batch"):
    """G_AB, G_BA, D_A, D_B as the trainer builds them (networks.py: our state_dict names),
    conv weights drawn from N(0, 0.02) as PyTorch-GAN initialises them."""
    from networks import build_networks

    nets = build_networks({"generator": generator, "discriminator": discriminator, "ngf": ngf,
                           "ndf": ndf, "imageSize": size, "norm": norm, "nResidualBlocks": 9},
                          channels)

    def init_normal(m):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            torch.nn.init.normal_(m.weight.data, 0.0, 0.02)

    for n in nets:
        n.apply(init_normal)
    return nets


def count_params(net):
    return sum(p.numel() for p in net.parameters())


def median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            if m:
                return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_info(torch, blas_choice):
    cuda = torch.cuda.is_available()
    libs = loaded_blas()
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": "cuda" if cuda else "cpu",
        "deviceName": torch.cuda.get_device_name(0) if cuda else _cpu_model(),
        "threads": torch.get_num_threads(),
        "blas": describe_blas(libs),
        "blasChoice": blas_choice,
        "blasLibraries": libs,
        "systemBlas": _system_blas(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--generator", default="unet", choices=["unet", "resnet", "paper"])
    ap.add_argument("--discriminator", default="patchgan", choices=["patchgan", "paper"])
    ap.add_argument("--norm", default="batch", choices=["batch", "instance"],
                    help="normalisation of the paper networks")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--budget", type=float, default=float("inf"))
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    ap.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda")
    ap.add_argument("--blas", default="auto", choices=["auto", "openmp", "system"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--info", action="store_true", help="print versions, device and BLAS")
    ap.add_argument("--check-params", action="store_true", help="print parameter counts")
    args = ap.parse_args()
    blas_choice = _reexec_with_blas(args.blas)

    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    # A product first, so that the BLAS is loaded when /proc/self/maps is read.
    (torch.ones(64, 64) @ torch.ones(64, 64)).sum().item()

    if args.info:
        emit({"event": "info", **torch_info(torch, blas_choice)})
        return
    if args.check_params:
        g_ab, _, d_a, _ = build(torch, nn, 3, args.ngf, args.ndf, args.generator,
                                args.discriminator, args.image_size, args.norm)
        emit(
            {
                "event": "params",
                "ngf": args.ngf,
                "ndf": args.ndf,
                args.generator: count_params(g_ab),
                args.discriminator: count_params(d_a),
                # Parameters and buffers by state_dict name, shape: to compare with ours.
                "generatorShapes": {k: list(v.shape) for k, v in g_ab.state_dict().items()},
                "discriminatorShapes": {k: list(v.shape) for k, v in d_a.state_dict().items()},
            }
        )
        return

    try:
        run(torch, nn, args, device, blas_choice)
    except Exception as e:  # noqa: BLE001 - reported to the bench, which goes on
        emit(
            {
                "event": "error",
                "name": type(e).__name__,
                "message": str(e)[:2000],
                "peakRssBytes": peak_rss_bytes(),
            }
        )


def run(torch, nn, args, device, blas_choice):
    t0 = time.perf_counter()
    nets = build(torch, nn, 3, args.ngf, args.ndf, args.generator, args.discriminator,
                 args.image_size, args.norm)
    g_ab, g_ba, d_a, d_b = [n.to(device).train() for n in nets]
    opt_g = torch.optim.Adam(
        list(g_ab.parameters()) + list(g_ba.parameters()), lr=2e-4, betas=(0.5, 0.999)
    )
    opt_d = torch.optim.Adam(
        list(d_a.parameters()) + list(d_b.parameters()), lr=2e-4, betas=(0.5, 0.999)
    )
    bce = nn.BCEWithLogitsLoss()
    mse = nn.MSELoss()
    lambda_cyc = 10.0
    shape = (args.batch_size, 3, args.image_size, args.image_size)
    real_a = (torch.rand(shape) * 2 - 1).to(device)
    real_b = (torch.rand(shape) * 2 - 1).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def iteration():
        fake_b = g_ab(real_a)
        fake_a = g_ba(real_b)
        recov_a = g_ba(fake_b)
        recov_b = g_ab(fake_a)

        # Discriminators, on the detached fakes.
        opt_d.zero_grad(set_to_none=True)
        real_out_a, fake_out_a = d_a(real_a), d_a(fake_a.detach())
        real_out_b, fake_out_b = d_b(real_b), d_b(fake_b.detach())
        ones, zeros = torch.ones_like(real_out_a), torch.zeros_like(real_out_a)
        loss_d_a = (bce(real_out_a, ones) + bce(fake_out_a, zeros)) / 2
        loss_d_b = (bce(real_out_b, ones) + bce(fake_out_b, zeros)) / 2
        d_loss = (loss_d_a + loss_d_b) / 2
        d_loss.backward()
        opt_d.step()

        # Generators, judged by the updated discriminators.
        opt_g.zero_grad(set_to_none=True)
        loss_gan = (bce(d_b(fake_b), ones) + bce(d_a(fake_a), ones)) / 2
        loss_cycle = (mse(recov_a, real_a) + mse(recov_b, real_b)) / 2
        g_loss = loss_gan + lambda_cyc * loss_cycle
        g_loss.backward()
        opt_g.step()
        return {
            "d": d_loss.item(),
            "g": g_loss.item(),
            "g_gan": loss_gan.item(),
            "g_cycle": loss_cycle.item(),
        }

    sync()
    emit(
        {
            "event": "ready",
            "backend": "pytorch",
            "device": device.type,
            "setupSeconds": time.perf_counter() - t0,
        }
    )
    timed = []
    losses = {}
    for i in range(args.warmup + max(1, args.iterations)):
        sync()
        start = time.perf_counter()
        losses = iteration()
        sync()
        seconds = time.perf_counter() - start
        warm = i < args.warmup
        emit({"event": "iteration", "index": i, "warmup": warm, "seconds": seconds})
        if not warm:
            timed.append(seconds)
        if i == 0 and seconds > args.budget:
            emit(
                {
                    "event": "too-slow",
                    "firstSeconds": seconds,
                    "budget": args.budget,
                    "peakRssBytes": peak_rss_bytes(),
                }
            )
            return
    done = {
        "event": "done",
        "backend": "pytorch",
        "seconds": timed,
        "median": median(timed),
        "losses": losses,
        "peakRssBytes": peak_rss_bytes(),
        **torch_info(torch, blas_choice),
    }
    if device.type == "cuda":
        done["peakGpuBytes"] = torch.cuda.max_memory_allocated()
    emit(done)


if __name__ == "__main__":
    main()
