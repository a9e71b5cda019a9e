"""The trainer's seeded random numbers (pipeline/seeded.ts), bit for bit: mulberry32 seeded by
a 32-bit hash of a string key. The data order, crops, flips and the fake pools' coin flips
are drawn from them, so a run continued here draws what the Deno trainer would have."""

import numpy as np

_MASK = 0xFFFFFFFF


def _imul(a, b):
    return (a * b) & _MASK


def mulberry32(seed):
    """A generator of floats in [0, 1), as pipeline/seeded.ts's mulberry32."""
    a = seed & _MASK

    def next_float():
        nonlocal a
        a = (a + 0x6D2B79F5) & _MASK
        t = _imul(a ^ (a >> 15), 1 | a)
        t = ((t + _imul(t ^ (t >> 7), 61 | t)) & _MASK) ^ t
        return ((t ^ (t >> 14)) & _MASK) / 4294967296

    return next_float


def hash_key(key):
    """FNV-1a over UTF-16 code units, then murmur3's finaliser (pipeline/seeded.ts)."""
    h = 0x811C9DC5
    data = key.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = _imul(h, 0x01000193)
    h ^= h >> 16
    h = _imul(h, 0x85EBCA6B)
    h ^= h >> 13
    h = _imul(h, 0xC2B2AE35)
    h ^= h >> 16
    return h


def seeded_random(key):
    return mulberry32(hash_key(key))


def uniform_stream(seed, count):
    """The first `count` floats of mulberry32(seed), at once: its state is a Weyl sequence
    (seed + k·0x6D2B79F5), so each output depends on k alone and numpy can compute them all."""
    a = (seed + np.arange(1, count + 1, dtype=np.uint64) * 0x6D2B79F5) & _MASK

    def imul(x, y):
        return (x * y) & _MASK

    t = imul(a ^ (a >> 15), 1 | a)
    t = ((t + imul(t ^ (t >> 7), 61 | t)) & _MASK) ^ t
    return ((t ^ (t >> 14)) & _MASK).astype(np.float64) / 4294967296


def seeded_normal(key, n):
    """`n` standard normal values for `key`: pipeline/seeded.ts's seededNormal (Box-Muller)."""
    pairs = (n + 1) // 2
    u = uniform_stream(hash_key(key), 2 * pairs)
    radius = np.sqrt(-2 * np.log(1 - u[0::2]))
    angle = 2 * np.pi * u[1::2]
    out = np.empty(2 * pairs)
    out[0::2], out[1::2] = radius * np.cos(angle), radius * np.sin(angle)
    return out[:n].astype(np.float32)


def seeded_shuffle(key, n):
    """The permutation of 0..n-1 that pipeline/seeded.ts's seededShuffle draws for `key`."""
    p = list(range(n))
    r = seeded_random(key)
    for i in range(n - 1, 0, -1):
        j = int(r() * (i + 1))
        p[i], p[j] = p[j], p[i]
    return p
