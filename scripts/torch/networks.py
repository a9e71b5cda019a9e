"""Our networks in PyTorch, with the state_dict names of our checkpoints (README, "Networks").

build_networks(options) reads a run's options.json fields (generator, discriminator, ngf,
ndf, imageSize, nResidualBlocks, norm, bottleneck) and returns G_AB, G_BA, D_A, D_B. Each
module has `kind` (the `kind` our checkpoints record) and every discriminator has
`forward_features(x) -> (logits, features)` (features: the paper discriminator's
encoder levels 2..L after their LeakyReLU; none for PatchGAN).
"""

import math

import torch
import torch.nn as nn

BOTTLENECK = 100  # channels of the paper generator's optional 1x1 bottleneck


class UNetDown(nn.Module):
    def __init__(self, cin, cout, normalize=True, dropout=0.0):
        super().__init__()
        layers = [nn.Conv2d(cin, cout, 4, 2, 1)]
        if normalize:
            layers.append(nn.InstanceNorm2d(cout))
        layers.append(nn.LeakyReLU(0.2))
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UNetUp(nn.Module):
    def __init__(self, cin, cout, dropout=0.0):
        super().__init__()
        layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.InstanceNorm2d(cout), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x, skip):
        return torch.cat((self.model(x), skip), 1)


class UNetGenerator(nn.Module):
    """PyTorch-GAN's GeneratorUNet (models/unet.ts)."""

    kind = "unet"

    def __init__(self, c, f):
        super().__init__()
        self.down1 = UNetDown(c, f, normalize=False)
        self.down2 = UNetDown(f, 2 * f)
        self.down3 = UNetDown(2 * f, 4 * f, dropout=0.5)
        self.down4 = UNetDown(4 * f, 8 * f, dropout=0.5)
        self.down5 = UNetDown(8 * f, 8 * f, dropout=0.5)
        self.down6 = UNetDown(8 * f, 8 * f, normalize=False, dropout=0.5)
        self.up1 = UNetUp(8 * f, 8 * f, dropout=0.5)
        self.up2 = UNetUp(16 * f, 8 * f, dropout=0.5)
        self.up3 = UNetUp(16 * f, 4 * f, dropout=0.5)
        self.up4 = UNetUp(8 * f, 2 * f)
        self.up5 = UNetUp(4 * f, f)
        self.final = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.ZeroPad2d((1, 0, 1, 0)),
            nn.Conv2d(2 * f, c, 4, padding=1), nn.Tanh())

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        d4 = self.down4(d3)
        d5 = self.down5(d4)
        u = self.up1(self.down6(d5), d5)
        u = self.up2(u, d4)
        u = self.up3(u, d3)
        u = self.up4(u, d2)
        return self.final(self.up5(u, d1))


class ResidualBlock(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(f, f, 3), nn.InstanceNorm2d(f), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(f, f, 3), nn.InstanceNorm2d(f))

    def forward(self, x):
        return x + self.block(x)


class ResNetGenerator(nn.Module):
    """PyTorch-GAN's GeneratorResNet (models/resnet.ts)."""

    kind = "resnet"

    def __init__(self, c, f, blocks):
        super().__init__()
        layers = [nn.ReflectionPad2d(c), nn.Conv2d(c, f, 7), nn.InstanceNorm2d(f), nn.ReLU()]
        for a, b in ((f, 2 * f), (2 * f, 4 * f)):
            layers += [nn.Conv2d(a, b, 3, 2, 1), nn.InstanceNorm2d(b), nn.ReLU()]
        layers += [ResidualBlock(4 * f) for _ in range(blocks)]
        for a, b in ((4 * f, 2 * f), (2 * f, f)):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(a, b, 3, 1, 1),
                       nn.InstanceNorm2d(b), nn.ReLU()]
        layers += [nn.ReflectionPad2d(c), nn.Conv2d(f, c, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PatchGanDiscriminator(nn.Module):
    """PyTorch-GAN's discogan Discriminator (models/patchgan.ts)."""

    kind = "patchgan"

    def __init__(self, c, f):
        super().__init__()

        def block(i, o, normalize=True):
            layers = [nn.Conv2d(i, o, 4, 2, 1)]
            if normalize:
                layers.append(nn.InstanceNorm2d(o))
            return layers + [nn.LeakyReLU(0.2)]

        self.model = nn.Sequential(
            *block(c, f, normalize=False), *block(f, 2 * f), *block(2 * f, 4 * f),
            nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(4 * f, 1, 4, padding=1))

    def forward(self, x):
        return self.model(x)

    def forward_features(self, x):
        return self.model(x), []


def paper_widths(base, size):
    """Encoder widths: base·2^i capped at 8·base, one level per halving down to 4x4."""
    return [base * min(2 ** i, 8) for i in range(int(math.log2(size)) - 2)]


def _paper_norm(norm, channels):
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.InstanceNorm2d(channels)


def _paper_encoder(c, widths, norm):
    layers = [nn.Conv2d(c, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), _paper_norm(norm, b), nn.LeakyReLU(0.2)]
    return layers


class PaperGenerator(nn.Module):
    """The paper's encoder-decoder (models/paper_generator.ts), one Sequential `main`."""

    kind = "paper-generator"

    def __init__(self, c, f, size, norm, bottleneck):
        super().__init__()
        w = paper_widths(f, size)
        layers = _paper_encoder(c, w, norm)
        if bottleneck:
            layers += [nn.Conv2d(w[-1], BOTTLENECK, 4, 1, 0, bias=False),
                       _paper_norm(norm, BOTTLENECK), nn.LeakyReLU(0.2),
                       nn.ConvTranspose2d(BOTTLENECK, w[-1], 4, 1, 0, bias=False),
                       _paper_norm(norm, w[-1]), nn.ReLU()]
        for a, b in zip(reversed(w), list(reversed(w))[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), _paper_norm(norm, b),
                       nn.ReLU()]
        layers += [nn.ConvTranspose2d(w[0], c, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x)


class PaperDiscriminator(nn.Module):
    """The paper's whole-image discriminator (models/paper_discriminator.ts)."""

    kind = "paper-discriminator"

    def __init__(self, c, f, size, norm):
        super().__init__()
        w = paper_widths(f, size)
        self.levels = len(w)
        self.main = nn.Sequential(*_paper_encoder(c, w, norm),
                                  nn.Conv2d(w[-1], 1, 4, 1, 0, bias=False))

    def forward(self, x):
        return self.main(x)

    def forward_features(self, x):
        features, level = [], 0
        for m in self.main:
            x = m(x)
            if isinstance(m, nn.LeakyReLU):
                level += 1
                if level >= 2:
                    features.append(x)
        return x, features


def build_networks(o, channels=3):
    """G_AB, G_BA, D_A, D_B for the options `o` (a run's options.json as a dict)."""
    size, norm = o["imageSize"], o.get("norm", "batch")

    def generator():
        kind = o["generator"]
        if kind == "unet":
            return UNetGenerator(channels, o["ngf"])
        if kind == "resnet":
            return ResNetGenerator(channels, o["ngf"], o["nResidualBlocks"])
        if kind == "paper":
            return PaperGenerator(channels, o["ngf"], size, norm, o.get("bottleneck", False))
        raise ValueError(f'generator "{kind}" is not one the PyTorch bridge knows')

    def discriminator():
        kind = o["discriminator"]
        if kind == "patchgan":
            return PatchGanDiscriminator(channels, o["ndf"])
        if kind == "paper":
            return PaperDiscriminator(channels, o["ndf"], size, norm)
        raise ValueError(f'discriminator "{kind}" is not one the PyTorch bridge knows')

    return generator(), generator(), discriminator(), discriminator()
