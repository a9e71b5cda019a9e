"""The Deno trainer's batches (pipeline/batch_source.ts), drawn the same way: the files of
data.json, the trainer's seeded permutation per domain and epoch, and its seeded crops and
flips, so batch i here holds the images batch i holds there.

Decoding is Pillow's, not sharp's: the EXIF orientation applied, alpha flattened onto white,
RGB, stretched to loadSize (Lanczos). Images already at loadSize, without alpha or colour
profile, give the same bytes as the trainer; others can differ in the last bits of resampling.
"""

import math
import os

import torch
from PIL import Image, ImageOps

from seeded import seeded_random, seeded_shuffle


class DataError(Exception):
    pass


def decode(path, side, half=None):
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if half is not None:
                w, h = image.size
                left = w // 2
                image = image.crop((0, 0, left, h) if half == "left" else (left, 0, w, h))
            if image.size != (side, side):
                image = image.resize((side, side), Image.LANCZOS)
            if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, rgba)
            data = torch.frombuffer(bytearray(image.convert("RGB").tobytes()), dtype=torch.uint8)
            return data.reshape(side, side, 3)
    except Exception as e:  # Pillow raises many kinds
        raise DataError(f'Cannot decode image "{path}": {e}') from e


class BatchDraws:
    """Which file, crop and flip each image of each domain gets, and the batches."""

    def __init__(self, o, manifest, on_skip=print):
        self.o = o
        self.size, self.load_size = o["imageSize"], o.get("loadSize", o["imageSize"])
        self.flip = o.get("flip", True)
        self.seed = o["seed"]
        self.paired = bool(o.get("paired"))
        self.files = {d: [os.path.join(manifest[d]["root"], f) for f in manifest[d]["files"]]
                      for d in ("a", "b")}
        if not self.files["a"] or not self.files["b"]:
            raise DataError("data.json lists no files for a domain")
        self.bad = set()
        self.permutations = {}
        self.on_skip = on_skip
        self.batch_size = o["batchSize"]
        self.batches_per_epoch = math.ceil(
            max(len(self.files["a"]), len(self.files["b"])) / self.batch_size)

    def permutation(self, key, n):
        # A batch needs one or two per domain: recomputing an O(n) shuffle per image would
        # cost O(n) per image.
        if key not in self.permutations:
            self.permutations[key] = seeded_shuffle(key, n)
            while len(self.permutations) > 4:
                del self.permutations[next(iter(self.permutations))]
        return self.permutations[key]

    def draw(self, domain, files, i):
        n = len(files)
        order = self.permutation(f"{self.seed}/{domain}/order/{i // n}", n)
        r = seeded_random(f"{self.seed}/{domain}/draw/{i}")
        slack = self.load_size - self.size + 1
        x, y = int(r() * slack), int(r() * slack)
        flip = r() < 0.5 and self.flip  # drawn even when off, as the trainer does
        # Candidate k: the file k places on in the same shuffle, when the first k fail.
        return lambda: (files[order[(i + k) % n]] for k in range(n)), (x, y, flip)

    def image(self, candidates, crop, half):
        for path in candidates():
            if path in self.bad:
                continue
            try:
                pixels = decode(path, self.load_size, half)
            except DataError as e:
                self.bad.add(path)
                self.on_skip(f"warning: skipping {path}: {e}")
                continue
            x, y, flip = crop
            pixels = pixels[y:y + self.size, x:x + self.size]
            if flip:
                pixels = pixels.flip(1)
            return pixels.permute(2, 0, 1).float() / 127.5 - 1
        raise DataError("no file of a domain decodes any more")

    def rows(self, index, rows):
        """Rows `rows` of batch `index` as NCHW tensors (A, B) in [-1, 1]."""
        a, b = [], []
        for j in rows:
            i = index * self.batch_size + j
            if self.paired:
                candidates, crop = self.draw("AB", self.files["a"], i)
                a.append(self.image(candidates, crop, "left"))
                b.append(self.image(candidates, crop, "right"))
            else:
                ca, crop_a = self.draw("A", self.files["a"], i)
                cb, crop_b = self.draw("B", self.files["b"], i)
                a.append(self.image(ca, crop_a, None))
                b.append(self.image(cb, crop_b, None))
        return torch.stack(a), torch.stack(b)

    def epoch(self, index):
        return (index * self.batch_size) // max(len(self.files["a"]), len(self.files["b"]))
