"""Throughput and peak memory of ``EmotionFuser.predict_samples`` per preset and batch size.

Each (preset, batch size) runs in its own subprocess so that its peak memory is its own. Inputs per
item: one sentence, 3 s of audio, 4 face crops. Reported: items/s (median of ``--repeats`` timed runs
after one warm-up) and, as the naive baseline, the same items predicted one call at a time; the
ratio is batched over one-at-a-time throughput.

    python benchmarks/speed.py --models tiny lite base --batch-sizes 1 16 --device cpu
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import torch


def build(name: str, device: str, tokenizer_dir: str = ""):
    from mmempathy import EmotionFuser
    from mmempathy.hub import load_preset

    if name == "base":  # random weights: timing does not need the hub's
        tokenizer = None
        if tokenizer_dir:  # e.g. MiniLM's: the same 30,522-token uncased vocabulary as bert-base-uncased
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        model = EmotionFuser(load_preset("base")["config"], pretrained_encoders=False, tokenizer=tokenizer)
        return model.to(device).eval()
    return EmotionFuser.from_pretrained(name, device=device)


def items(n: int, face_size: int):
    from mmempathy import Sample

    rng = np.random.default_rng(0)
    return [
        Sample(
            text="I really can't believe you would do that to me, after everything.",
            audio=(rng.standard_normal(48000) * 0.1).astype(np.float32),
            sample_rate=16000,
            faces=rng.integers(0, 256, (4, face_size, face_size, 3), dtype=np.uint8),
        )
        for _ in range(n)
    ]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, batch: int, device: str, repeats: int, tokenizer_dir: str = "") -> dict:
    """One configuration, in this process."""
    warnings.simplefilter("ignore")
    model = build(name, device, tokenizer_dir)
    samples = items(batch, model.processor.face_size or 48)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    batched = timed(lambda: model.predict_samples(samples, batch_size=batch), repeats)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda"
        else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    )
    one_by_one = timed(lambda: [model.predict_samples([s]) for s in samples], repeats) if batch > 1 else batched
    return {
        "model": name,
        "batch": batch,
        "device": device,
        "items_per_s": batch / batched,
        "ms_per_item": 1000 * batched / batch,
        "one_by_one_items_per_s": batch / one_by_one,
        "speedup_vs_one_by_one": one_by_one / batched,
        "peak_mem_mib": peak,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny", "lite", "base"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--tokenizer", default="", help="tokenizer directory for base (where the hub is unreachable)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # internal: run one config, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.device, args.repeats, args.tokenizer)))
        return
    rows = []
    for name in args.models:
        for batch in args.batch_sizes:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                name,
                str(batch),
                "--device",
                args.device,
                "--repeats",
                str(args.repeats),
                "--tokenizer",
                args.tokenizer,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    machine = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(f"\nmachine: {machine}; torch {torch.__version__}; median of {args.repeats} runs\n")
    print(
        "| model | params (M) | batch | items/s | ms/item | one-by-one items/s | batched ÷ one-by-one "
        "| peak mem (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['params_m']:.1f} | {r['batch']} | {r['items_per_s']:.1f} | {r['ms_per_item']:.1f} "
            f"| {r['one_by_one_items_per_s']:.1f} | {r['speedup_vs_one_by_one']:.2f}× | {r['peak_mem_mib']:.0f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
