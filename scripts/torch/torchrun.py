#!/usr/bin/python3
"""`torchrun`, for PyTorch 1.13 on Python 3.11 (Debian 12's python3-torch).

There torchrun fails before it starts a worker: its `Std.from_str("0")` (the default of
--redirects and --tee) returns None, because Python 3.11 no longer iterates the zero member
of an IntFlag. This replaces that one parser and runs torchrun unchanged:

  python3 scripts/torch/torchrun.py --standalone --nproc_per_node 2 scripts/torch/train_ddp.py RUN_DIR

With a newer PyTorch, use `torchrun` itself; the arguments are the same.
"""

from torch.distributed.elastic.multiprocessing import api
from torch.distributed.run import main


def _std_from_str(value):
    if ":" not in value:
        return api.Std(int(value))
    pairs = (part.split(":") for part in value.split(","))
    return {int(rank): api.Std(int(std)) for rank, std in pairs}


if api.Std.from_str("0") is None:
    api.Std.from_str = staticmethod(_std_from_str)

if __name__ == "__main__":
    main()
