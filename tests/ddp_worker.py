"""Run by tests/test_distributed.py under torchrun: trains, then saves this rank's parameters."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import models_for_tests  # noqa: E402,F401  (registers tiny-ae)
from genimg.train import apply_overrides, default_config, train  # noqa: E402

family, out = sys.argv[1], Path(sys.argv[2])
overrides = sys.argv[3:]
torch.set_num_threads(1)
result = train(apply_overrides(default_config(family), overrides), quiet=True)
rank = dist.get_rank()
torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()}, out / f"rank{rank}.pt")
