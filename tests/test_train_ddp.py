"""Data-parallel training (DDP, gloo, two CPU processes) follows the single-process run with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from train_helpers import feature_fuser, feature_samples  # noqa: E402

from mmempathy.train import TrainConfig, Trainer  # noqa: E402


def run(out: str, batch_size: int, rank: int = 0) -> None:
    torch.set_num_threads(1)
    fuser = feature_fuser()
    for module in fuser.modules():  # dropout masks differ between one and two processes
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    data = feature_samples(32)
    config = TrainConfig(output_dir=out, epochs=3, batch_size=batch_size, lr_fusion=1e-2, lr_encoder=1e-2,
                         progress=False, tensorboard=False)  # fmt: skip
    result = Trainer(fuser, config, data, data[:10]).fit()
    weights = {k: v.tolist() for k, v in fuser.state_dict().items()}
    Path(out, f"rank{rank}.json").write_text(json.dumps({"losses": result.losses, "history": result.history,
                                                         "weights": weights}))  # fmt: skip


def worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2")  # fmt: skip
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        run(out, 4, rank)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_on_gloo_matches_one_process(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
    run(str(tmp_path / "single"), 8)
    single = json.loads((tmp_path / "single" / "rank0.json").read_text())
    ranks = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in range(2)]
    ddp_losses = np.mean([r["losses"] for r in ranks], axis=0)  # each rank's loss is the mean of its half-batch
    assert len(ddp_losses) == len(single["losses"]) == 12
    np.testing.assert_allclose(ddp_losses, single["losses"], rtol=1e-4, atol=1e-5)
    assert single["losses"][-1] < single["losses"][0] * 0.85  # it learnt something, so the curves mean something
    for name, value in single["weights"].items():  # both ranks hold the same weights, equal to the single run's
        np.testing.assert_allclose(ranks[0]["weights"][name], value, rtol=1e-4, atol=1e-5, err_msg=name)
        assert ranks[0]["weights"][name] == ranks[1]["weights"][name]
    for a, b in zip(ranks[0]["history"], single["history"]):  # validation is sharded and gathered
        assert abs(a["val_accuracy"] - b["val_accuracy"]) < 1e-6 and abs(a["val_loss"] - b["val_loss"]) < 1e-4
