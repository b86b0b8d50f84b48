"""Training throughput: samples/s and peak memory of full training steps (forward, backward, AdamW).

Each run builds the preset with random weights (offline), feeds synthetic items (a sentence, 3 s of
audio, 4 face crops, all modalities present) and times ``--steps`` optimizer steps after one warm-up
step; the median over ``--runs`` runs is reported. ``--cached`` times the frozen-encoder mode instead
(all encoders frozen, fusion-only steps on cached features, cache built beforehand) next to the
uncached epoch of the same frozen model.

    python benchmarks/train_speed.py --model tiny --steps 10 --runs 3
    python benchmarks/train_speed.py --model lite --cached
    python benchmarks/train_speed.py --model base --device cuda --steps 20 --batch-size 8
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import tempfile
import time
import warnings

import numpy as np
import torch

from mmempathy import EmotionFuser, Sample, hub
from mmempathy.train import TrainConfig, Trainer


def build(name: str, *, frozen: bool, tokenizer_dir: str = "") -> EmotionFuser:
    """The preset with random weights; ``tokenizer_dir`` replaces its tokenizer (for machines without it cached:
    MiniLM's tokenizer has bert-base-uncased's 30,522-token vocabulary, so token counts and speed are the same)."""
    tokenizer = None
    if tokenizer_dir:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = hub.load_preset(name)["config"]
    for m in ("text", "audio", "face"):
        config[m] = {**config[m], "freeze": frozen} if frozen else config[m]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EmotionFuser(config, pretrained_encoders=False, tokenizer=tokenizer)


def samples(fuser: EmotionFuser, n: int, seconds: float = 3.0) -> list[Sample]:
    rng = np.random.default_rng(0)
    size, gray = fuser.processor.face_size, fuser.config.face.channels == 1
    shape = (4, size, size) if gray else (4, size, size, 3)
    return [
        Sample(
            text="I really can't believe you would do that to me after everything",
            audio=(rng.standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32),
            sample_rate=16000,
            faces=rng.integers(0, 256, shape, dtype=np.uint8),
            label=i % len(fuser.labels),
        )
        for i in range(n)
    ]


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


def one_run(args: argparse.Namespace, *, frozen: bool, cache: str) -> tuple[float, float]:
    """Samples/s over ``args.steps`` timed steps (one warm-up step first) and peak memory."""
    fuser = build(args.model, frozen=frozen, tokenizer_dir=args.tokenizer)
    data = samples(fuser, args.batch_size * (args.steps + 1))
    device = torch.device(args.device)
    device = torch.device("cuda", device.index or 0) if device.type == "cuda" else device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times: list[float] = []

    def clock(trainer: Trainer) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(output_dir=out, epochs=1, batch_size=args.batch_size, device=args.device,
                             feature_cache=cache, progress=False, tensorboard=False,
                             gradient_checkpointing=args.checkpointing or None)  # fmt: skip
        trainer = Trainer(fuser, config, data, callbacks=[clock])
        trainer.fit()
    elapsed = times[-1] - times[0]  # from the end of the warm-up step to the end of the last step
    return args.batch_size * (len(times) - 1) / elapsed, peak_memory_mb(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", choices=hub.list_models())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing in the encoders")
    parser.add_argument("--tokenizer", default="", help="a tokenizer directory to use instead of the preset's")
    parser.add_argument("--cached", action="store_true", help="frozen encoders: cached vs uncached steps")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = (
        [("frozen, uncached", True, "off"), ("frozen, cached", True, "on")]
        if args.cached
        else [("end-to-end", False, "off")]
    )
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"# {args.model} on {args.device} ({where}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"# batch {args.batch_size}, {args.steps} timed steps, median of {args.runs} runs")
    print("| model | mode | device | batch | samples/s (median) | runs | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for label, frozen, cache in modes:
        results = [one_run(args, frozen=frozen, cache=cache) for _ in range(args.runs)]
        speeds = [r[0] for r in results]
        print(f"| {args.model} | {label} | {args.device} | {args.batch_size} | {statistics.median(speeds):.1f} | "
              f"{', '.join(f'{s:.1f}' for s in speeds)} | {max(r[1] for r in results):.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
