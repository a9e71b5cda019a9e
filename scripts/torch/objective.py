"""One DiscoGAN iteration in PyTorch, in the order and with the objective of the Deno
trainer's pipeline/iteration.ts, so that an iteration here equals one there: the same
losses, the same weight, Adam and BatchNorm updates (up to float32 rounding, and with
dropout off or masks aside).

Distributed: with a `reduce` object (data-parallel ranks, each on its rows of the global
batch), gradients are averaged over the ranks before each Adam step (the all-reduce
DistributedDataParallel performs), the fakes shown to the discriminators pass through
one pool of past fakes kept alike on every rank, and the reported losses are averaged.
"""

import math

import torch
import torch.nn.functional as F

from seeded import seeded_normal, seeded_random


# --- losses (ops/losses.ts) ------------------------------------------------------------

def gan_discriminator(name, logits, real):
    if name == "bce":
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)
    if name == "lsgan":
        return torch.mean((logits - (1.0 if real else 0.0)) ** 2)
    if name == "hinge":
        return torch.mean(F.relu(1 - logits if real else 1 + logits))
    raise ValueError(f'ganLoss "{name}" is not one the PyTorch bridge knows')


def gan_generator(name, logits):
    if name == "bce":
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    if name == "lsgan":
        return torch.mean((logits - 1.0) ** 2)
    if name == "hinge":
        return -torch.mean(logits)
    raise ValueError(f'ganLoss "{name}" is not one the PyTorch bridge knows')


HINGE_MARGIN = 0.1


def distance(name, a, b):
    if name == "l2":
        return torch.mean((a - b) ** 2)
    if name == "l1":
        return torch.mean(torch.abs(a - b))
    if name == "cosine":
        fa, fb = a.flatten(1), b.flatten(1)
        norms = fa.norm(dim=1) * fb.norm(dim=1)
        return torch.mean(1 - (fa * fb).sum(1) / torch.clamp(norms, min=1e-8))
    if name == "hinge":
        return torch.mean(F.relu(torch.abs(a - b) - HINGE_MARGIN))
    raise ValueError(f'distance "{name}" is not one the PyTorch bridge knows')


def mean2(a, b):
    return (a + b) / 2


def learning_rate(lr, iteration, total, decay):
    """pipeline/training_state.ts's learningRate: linear decay to 0 over the last `decay`."""
    if decay <= 0 or total is None or not math.isfinite(total):
        return lr
    return lr * min(1.0, max(0.0, total - iteration) / decay)


# --- the pool of past fakes (pipeline/fake_pool.ts) ----------------------------------------

class FakePool:
    """CycleGAN's image buffer with the trainer's seeded coin flips. Images are kept NCHW."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.images = []

    def query(self, fakes, key):
        if self.capacity == 0:
            return fakes
        random = seeded_random(key)
        shown = []
        for image in fakes.detach():
            image = image.clone()
            out = image
            if len(self.images) < self.capacity:
                self.images.append(image)
            elif random() < 0.5:
                k = int(random() * self.capacity)
                out, self.images[k] = self.images[k], image
            shown.append(out)
        return torch.stack(shown)

    def snapshot(self):
        """The stored images as one NHWC tensor (the checkpoint's layout), or None."""
        return torch.stack(self.images).permute(0, 2, 3, 1).contiguous() if self.images else None

    def restore(self, nhwc):
        self.images = [] if nhwc is None else list(nhwc.permute(0, 3, 1, 2).contiguous())
        if len(self.images) > self.capacity:
            raise ValueError(f"the pool holds {len(self.images)} images, over --pool-size")


# --- the iteration -----------------------------------------------------------------------

class LocalReduce:
    """One process: nothing to reduce."""

    world = 1
    rank = 0

    def gradients(self, params):
        pass

    def scalars(self, values):
        return values

    def gather(self, x):
        return x


class Trainer:
    """The four networks, the two Adams and the pools of one run, and its iteration.

    `o` is the run's options (options.json); `dropout` is the trainer's
    TrainingState.dropout: the generators run in train() mode (dropout, BatchNorm on batch
    statistics) when true and in eval() when false; discriminators always train().
    """

    def __init__(self, o, nets, reduce=None, dropout=True):
        self.o = o
        self.g_ab, self.g_ba, self.d_a, self.d_b = nets
        self.reduce = reduce or LocalReduce()
        self.dropout = dropout
        self.iteration = 0
        self.total = None
        adam = dict(lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=1e-8,
                    weight_decay=o.get("weightDecay", 0))
        self.g_params = list(self.g_ab.parameters()) + list(self.g_ba.parameters())
        self.d_params = list(self.d_a.parameters()) + list(self.d_b.parameters())
        self.g_opt = torch.optim.Adam(self.g_params, **adam)
        self.d_opt = torch.optim.Adam(self.d_params, **adam)
        self.pools = {"a": FakePool(o.get("poolSize", 0)), "b": FakePool(o.get("poolSize", 0))}
        self.seed = o.get("seed", 0)
        self.paired = bool(o.get("paired"))

    # One pass per call, in pipeline/iteration.ts's order: it matters for BatchNorm's
    # running statistics, which each train() call updates.
    def passes(self, real_a, real_b):
        for g in (self.g_ab, self.g_ba):
            g.train(self.dropout)
        fake_a = self.g_ba(real_b)
        fake_b = self.g_ab(real_a)
        return {"fake_a": fake_a, "fake_b": fake_b,
                "recov_a": self.g_ba(self.cycle_noise(fake_b, "b")),
                "recov_b": self.g_ab(self.cycle_noise(fake_a, "a"))}

    def cycle_noise(self, fake, domain):
        """The translation on its way back, with the objective's seeded Gaussian noise (the
        trainer's numbers: keyed by seed, iteration, domain and global row)."""
        sigma = self.o.get("cycleNoise", 0)
        if not sigma:
            return fake
        n, per = fake.shape[0], fake[0].numel()
        first = self.reduce.rank * n
        rows = []
        for row in range(first, first + n):
            # Drawn in the trainer's NHWC order, then laid out as NCHW.
            values = seeded_normal(f"{self.seed}/cycle-noise/{domain}/{self.iteration}/{row}", per)
            c, h, w = fake.shape[1:]
            rows.append(torch.from_numpy(values).reshape(h, w, c).permute(2, 0, 1))
        return fake + torch.stack(rows).to(fake.device) * sigma

    def judge(self, d, real, fake, features):
        d.train()
        if features:
            return {"real": d.forward_features(real), "fake": d.forward_features(fake)}
        return {"real": (d(real), None), "fake": (d(fake), None)}

    def fakes_only(self, d, fake):
        d.train()
        return {"fake": (d(fake), None)}

    def pooled(self, fake_a, fake_b):
        """The fakes shown to the discriminators: through the pools, one global batch."""
        if self.pools["a"].capacity == 0:
            return fake_a, fake_b
        shown = []
        for domain, fakes in (("a", fake_a), ("b", fake_b)):
            everyone = self.reduce.gather(fakes.detach())
            key = f"{self.seed}/pool/{domain}/{self.iteration}"
            rows = self.pools[domain].query(everyone, key)
            n = fakes.shape[0]
            shown.append(rows[self.reduce.rank * n:(self.reduce.rank + 1) * n])
        return shown[0], shown[1]

    def d_objective(self, judged):
        name = self.o["ganLoss"]

        def side(j):
            return mean2(gan_discriminator(name, j["real"][0], True),
                         gan_discriminator(name, j["fake"][0], False))

        terms = {"d_a": side(judged["a"]), "d_b": side(judged["b"])}
        return mean2(terms["d_a"], terms["d_b"]), terms

    def feature_matching(self, j, layers):
        real, fake = j["real"][1], j["fake"][1]
        total = 0
        for layer in layers:
            k = layer - 2
            if k >= len(fake):
                raise ValueError(f"feature matching: layer {layer} asked for, the "
                                 f"discriminator has layers 2..{len(fake) + 1}")
            total = total + torch.mean((real[k].mean(0) - fake[k].mean(0)) ** 2)
        return total

    def g_objective(self, real_a, real_b, t, judged):
        o = self.o
        terms = {
            "g_gan": mean2(gan_generator(o["ganLoss"], judged["b"]["fake"][0]),
                           gan_generator(o["ganLoss"], judged["a"]["fake"][0])),
            "g_cycle": mean2(distance(o["cycleLoss"], t["recov_a"], real_a),
                             distance(o["cycleLoss"], t["recov_b"], real_b)),
        }
        adversarial = terms["g_gan"]
        x = o.get("featureMatching", 0)
        if x > 0:
            layers = [int(v) for v in o["featureLayers"].split(",")]
            terms["g_fm"] = mean2(self.feature_matching(judged["b"], layers),
                                  self.feature_matching(judged["a"], layers))
            adversarial = terms["g_gan"] * (1 - x) + terms["g_fm"] * x
        if o.get("defaultRate") is None:
            total = adversarial + terms["g_cycle"] * o["lambdaCycle"]
        else:
            rate = (o.get("startingRate", o["defaultRate"])
                    if self.iteration < o.get("ganCurriculum", 0) else o["defaultRate"])
            total = adversarial * (1 - rate) + terms["g_cycle"] * (rate * o["lambdaCycle"])
        if self.paired:
            terms["g_pixelwise"] = mean2(distance(o["pixelwiseLoss"], t["fake_a"], real_a),
                                         distance(o["pixelwiseLoss"], t["fake_b"], real_b))
            total = total + terms["g_pixelwise"] * o["lambdaPixelwise"]
        if o.get("lambdaIdentity", 0) > 0:
            same_a = self.g_ba(real_a)
            same_b = self.g_ab(real_b)
            terms["g_identity"] = mean2(distance("l1", same_a, real_a),
                                        distance("l1", same_b, real_b))
            total = total + terms["g_identity"] * o["lambdaIdentity"]
        return total, terms

    def step(self, optimizer, params, loss):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.reduce.gradients(params)
        finite = math.isfinite(loss.item()) and all(
            p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)
        if not finite:
            raise FloatingPointError(
                f"iteration {self.iteration + 1}: a non-finite loss or gradient")
        optimizer.step()

    def iteration_step(self, real_a, real_b):
        """One iteration on this rank's rows (NCHW in [-1, 1]); returns the losses (floats)."""
        o = self.o
        decay = o.get("lrDecayIterations", 0)
        if decay > 0:
            lr = learning_rate(o["lr"], self.iteration, self.total, decay)
            for group in self.g_opt.param_groups + self.d_opt.param_groups:
                group["lr"] = lr
        every = o.get("dUpdateInterval", 1)
        if every > 1:
            losses = self.one_side_step(real_a, real_b, "d" if self.iteration % every == 0 else "g")
        else:
            t = self.passes(real_a, real_b)
            # The discriminator step on these fakes (constants to it), first.
            shown_a, shown_b = self.pooled(t["fake_a"].detach(), t["fake_b"].detach())
            d_total, d_terms = self.d_objective({
                "a": self.judge(self.d_a, real_a, shown_a, False),
                "b": self.judge(self.d_b, real_b, shown_b, False)})
            self.step(self.d_opt, self.d_params, d_total)
            # Then the generators, judged by the updated discriminators.
            fm = o.get("featureMatching", 0) > 0
            with _frozen(self.d_params):
                judged = {
                    "a": self.judge(self.d_a, real_a, t["fake_a"], True) if fm
                    else self.fakes_only(self.d_a, t["fake_a"]),
                    "b": self.judge(self.d_b, real_b, t["fake_b"], True) if fm
                    else self.fakes_only(self.d_b, t["fake_b"]),
                }
                g_total, g_terms = self.g_objective(real_a, real_b, t, judged)
                self.step(self.g_opt, self.g_params, g_total)
            losses = {"d": d_total, **d_terms, "g": g_total, **g_terms}
        self.iteration += 1
        return self.reduce.scalars({k: float(v.detach()) for k, v in losses.items()})

    def one_side_step(self, real_a, real_b, side):
        """The paper's schedule: one side steps, on losses from one set of passes."""
        fm = self.o.get("featureMatching", 0) > 0

        def judged_on(fake_a, fake_b):
            return {"a": self.judge(self.d_a, real_a, fake_a, fm),
                    "b": self.judge(self.d_b, real_b, fake_b, fm)}

        if side == "g":
            t = self.passes(real_a, real_b)
            with _frozen(self.d_params):
                judged = judged_on(t["fake_a"], t["fake_b"])
                d_total, d_terms = self.d_objective(judged)
                g_total, g_terms = self.g_objective(real_a, real_b, t, judged)
                self.step(self.g_opt, self.g_params, g_total)
        else:
            with torch.no_grad():
                t = self.passes(real_a, real_b)
            shown = self.pooled(t["fake_a"], t["fake_b"])
            judged = judged_on(t["fake_a"], t["fake_b"])
            same = shown[0] is t["fake_a"]
            d_total, d_terms = self.d_objective(judged if same else judged_on(*shown))
            with torch.no_grad():
                g_total, g_terms = self.g_objective(real_a, real_b, t, judged)
            self.step(self.d_opt, self.d_params, d_total)
        return {"d": d_total, **d_terms, "g": g_total, **g_terms}


class _frozen:
    """No gradients for `params` inside (the discriminators during the generators' step)."""

    def __init__(self, params):
        self.params = params

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)
