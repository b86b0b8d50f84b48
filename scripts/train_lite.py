"""Retrain the shipped ``lite`` model from the public data in ../shared/data, in one command.

    python scripts/train_lite.py --data-dir ../shared/data --out runs/lite --device cuda
    python scripts/train_lite.py --parts text=DIR audio=DIR face=DIR --out runs/lite   # reuse trained parts

Stage 1 trains each encoder on its own data through the benchmark runner (``mmempathy bench``):
MiniLM's top two layers on MELD (3 epochs), the log-mel speech encoder on RAVDESS (train actors
1-16), the face CNN on FER2013 (official train; a GPU is advised). ``--parts`` skips a part and
takes its encoder from an existing checkpoint directory. Stage 2 puts the three encoders into one
lite model and freezes them. Stage 3 trains the fusion and the heads on label-matched combinations
(:class:`mmempathy.data.combined.LabelMatched`) of MELD train lines, RAVDESS train utterances and
FER2013 train faces, with modality dropout 0.5, on cached encoder outputs; it selects on
combinations of the dev splits (MELD dev, RAVDESS actors 17-18, FER2013 test is never used for
selection) and reports test combinations and each modality alone. Stage 4 writes the weights
(fp16, frozen MiniLM layers left out) to ``mmempathy/weights/lite`` and the figures to
``<out>/lite_results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mmempathy import EmotionFuser, Modality
from mmempathy.cli import main as cli_main
from mmempathy.data import get_dataset
from mmempathy.data.combined import LabelMatched
from mmempathy.hub import load_preset
from mmempathy.metrics import classification_metrics
from mmempathy.train import TrainConfig, Trainer

PARTS = {  # modality -> (bench recipe, extra bench arguments)
    "text": ("meld", ["--text-layers", "2", "--epochs", "3", "--set", "lr_encoder=5e-5"]),
    "audio": ("ravdess", ["--epochs", "50"]),
    "face": ("fer2013", ["--epochs", "40", "--batch-size", "256"]),
}
SHIPPED = Path(__file__).resolve().parents[1] / "mmempathy" / "weights" / "lite"


def train_part(modality: str, data_dir: Path, out: Path, device: str) -> Path:
    """Run the part's benchmark recipe (one seed) and return its best checkpoint."""
    recipe, extra = PARTS[modality]
    folder = {"meld": "meld", "ravdess": "ravdess", "fer2013": "fer2013"}[recipe]
    args = ["bench", recipe, "--data-dir", str(data_dir / folder), "--model", "lite", "--seeds", "1",
            "--out", str(out / "parts"), "--device", device, *extra]
    if cli_main(args) != 0:
        raise SystemExit(f"training the {modality} part failed")
    return next((out / "parts" / recipe).glob("*/seed0/best"))


def assemble(parts: dict[str, Path]) -> EmotionFuser:
    """The lite model with each encoder's weights from its part checkpoint, all encoders frozen."""
    config = load_preset("lite")["config"]
    config["text"].update(freeze=True, unfreeze_top=2, external=True)
    model = EmotionFuser(config, pretrained_encoders=True)
    for modality, path in parts.items():
        part = EmotionFuser.from_pretrained(path, device="cpu")
        model.encoders[modality].load_state_dict(part.encoders[modality].state_dict())
    model.encoders.requires_grad_(False)
    return model


def combos(data_dir: Path, split: dict[str, str], size: int, seed: int) -> LabelMatched:
    """Label-matched text/audio/face samples of the given split of each source."""
    sources = {
        "text": get_dataset("meld", data_dir / "meld", split=split["text"]),
        "audio": get_dataset("ravdess", data_dir / "ravdess", split=split["audio"]),
        "face": get_dataset("fer2013", data_dir / "fer2013", split=split["face"]),
    }
    return LabelMatched(sources, size=size, seed=seed)


def evaluate(model: EmotionFuser, data: LabelMatched, drop: tuple[str, ...] = ()) -> dict[str, float]:
    """Test metrics of the fused prediction, with the modalities in ``drop`` removed."""
    fields = {"text": ("text",), "audio": ("audio",), "face": ("faces",)}
    samples = []
    for i in range(len(data)):
        s = data[i]
        for m in drop:
            for f in fields[m]:
                setattr(s, f, None)
        samples.append(s)
    results = model.predict_samples(samples, batch_size=64)
    preds = np.array([model.labels.index(r.label) for r in results])
    metrics = classification_metrics(preds, data.targets(), len(model.labels))
    weights = {m.value: float(np.mean([r.weights.get(m.value, 0.0) for r in results])) for m in Modality}
    return {"accuracy": metrics["accuracy"], "f1_weighted": metrics["f1_weighted"], "mean_weights": weights}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/lite"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--parts", nargs="*", default=[], metavar="MODALITY=DIR", help="reuse trained parts")
    parser.add_argument("--size", type=int, default=4000, help="training combinations")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--no-ship", action="store_true", help="do not write mmempathy/weights/lite")
    args = parser.parse_args()
    start = time.time()
    given = dict(p.split("=", 1) for p in args.parts)
    parts = {m: Path(given[m]) if m in given else train_part(m, args.data_dir, args.out, args.device) for m in PARTS}
    model = assemble(parts)
    train = combos(args.data_dir, {"text": "train", "audio": "train", "face": "train"}, args.size, seed=0)
    dev = combos(args.data_dir, {"text": "dev", "audio": "dev", "face": "public_test"}, 1000, seed=1)
    test = combos(args.data_dir, {"text": "test", "audio": "test", "face": "private_test"}, 1500, seed=2)
    config = TrainConfig(output_dir=str(args.out / "fusion"), epochs=args.epochs, batch_size=64, lr_fusion=1e-3,
                         modality_dropout=0.5, metric="f1_weighted", patience=5, device=args.device, seed=0)
    result = Trainer(model, config, train, dev).fit()
    model = EmotionFuser.from_pretrained(result.best_dir, device="cpu")
    model.config.trained = True
    report = {"parts": {m: str(p) for m, p in parts.items()}, "fusion_best_dev": result.best_metric,
              "test_all": evaluate(model, test)}
    for m in PARTS:
        report[f"test_{m}_only"] = evaluate(model, test, drop=tuple(o for o in PARTS if o != m))
    report["wall_s"] = time.time() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lite_results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if not args.no_ship:
        model.save_pretrained(SHIPPED, dtype=torch.float16)
        print(f"wrote {SHIPPED}")


if __name__ == "__main__":
    main()
