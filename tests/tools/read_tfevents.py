#!/usr/bin/env python3
"""Reads a folder of TensorBoard event files with TensorBoard's own reader
(the `tensorboard` pip package) and prints JSON: every scalar tag with its
(step, value) pairs, every image tag with (step, width, height, PNG bytes'
base64), and every text tag's strings. Used by tests/tensorboard_test.ts.

    python3 tests/tools/read_tfevents.py RUN_DIR/tb
"""
import base64
import json
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def main():
    acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.IMAGES: 0,
                                                          ea.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    out = {
        "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
        "images": {
            t: [[e.step, e.width, e.height, base64.b64encode(e.encoded_image_string).decode()]
                for e in acc.Images(t)]
            for t in tags["images"]
        },
        "texts": {
            t: [[e.step, [s.decode() for s in e.tensor_proto.string_val]] for e in acc.Tensors(t)]
            for t in tags["tensors"]
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
