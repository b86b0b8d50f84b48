"""Linear probe of Whisper encoder layers for speech emotion: RAVDESS (8 classes, actor-independent) and TESS.

For each model, every hidden state (front end, then each layer) of every clip is mean-pooled over the
clip's tokens and cached to an ``.npz``. A standardised logistic regression is fitted on RAVDESS train
actors (1-16) per layer and per C; the layer and C with the best accuracy on the dev actors (17-18)
are kept, and that one classifier is scored on the test actors (19-24) and on the TESS quarter
(cross-corpus; TESS has no calm, so calm is dropped from the predictions: the argmax runs over the
other seven classes; the calm-merged-into-neutral figure is printed beside it).

Then, for the chosen model and layer (C kept), the same classifier on clips padded with silence to
30 s (Whisper's own input; ``pad_seconds=30``), pooled over the clip's own tokens. That costs ~10x the
compute, so ``--pad-train-every`` keeps only every k-th train clip, TESS is left out unless
``--pad-tess``, and the unpadded figure is recomputed on the same clips.

Then a second protocol (``--stats``): richer pooled features, and more voices. Candidates are each state
mean-pooled or mean+std-pooled, and the concatenation of states 2 and up (mean, mean+std), each with and
without the RAVDESS *song* clips of the training actors in the training folds (``--song-dir``: the same
actors singing 6 of the 8 emotions, a second vocal channel). One candidate is chosen by actor-grouped
cross-validation over actors 1-18 (9 folds of two actors, speech clips scored; 1,080 clips instead of
the 120 dev clips), then fitted on actors 1-18 and scored once on the test actors and TESS.

Then a third protocol (``--speakers``, issue 24 item 4): per-speaker normalisation and the depth chosen by
cross-corpus dev. Each speaker's features (a RAVDESS actor, a TESS speaker) are standardised by that speaker's
own mean and standard deviation over all their clips (no labels; ``meanstd``), or only centred (``mean``), in
training and at test alike, against the plain features. Candidates: each single state (mean-pooled) and the
states 2 and up stacked (mean, mean+std). Each is fitted on the train actors (1-16) per C; the dev score is the
mean accuracy over the four dev speakers, RAVDESS actors 17 and 18 and TESS's OAF and YAF (calm dropped), so
TESS is a cross-corpus *dev* set here. The best candidate per normalisation, and overall, is scored once on the
test actors (19-24), per actor and overall, with the encoder's CPU time up to its deepest state.

Also reports the encoder's size and its CPU time per 3 s clip (1 thread, median of 5).

    OMP_NUM_THREADS=1 python benchmarks/speech_probe.py --cache /work/cache/speech_probe
    OMP_NUM_THREADS=1 python benchmarks/speech_probe.py --stats --song-dir /work/data/ravdess_song/archive --no-padded
    OMP_NUM_THREADS=1 python benchmarks/speech_probe.py --speakers --no-padded --cache /tmp/speech_probe_cache
    python benchmarks/speech_probe.py --limit 16 --models whisper-tiny.en   # smoke run on a slice
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mmempathy.config import SpeechEncoderConfig
from mmempathy.data import default_data_root, get_dataset
from mmempathy.data.base import read_sound_file
from mmempathy.data.ravdess import NATIVE_LABELS
from mmempathy.encoders.whisper import KNOWN_ARCH, WhisperSpeechEncoder

# TESS emotion (file name suffix) -> RAVDESS native class; calm has no TESS counterpart
TESS_TO_RAVDESS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprised",
    "sad": "sad",
}
C_GRID = (0.001, 0.01, 0.1, 1.0)
STATS_C_GRID = (0.001, 0.01)  # the stats features are 2-10x wider than one state's mean: stronger penalties
SPEAKER_C_GRID = (0.001, 0.01, 0.1)
NORMALISATIONS = ("plain", "mean", "meanstd")  # per speaker: nothing, centred, standardised


def clips(
    data_root: Path, limit: int, song_dir: Path | None = None
) -> tuple[list[str], list[int], list[str], list[str]]:
    """Paths, native labels, split names (train/dev/test/tess, and song_<split> for the song clips of
    ``song_dir``, a folder of RAVDESS ``Actor_XX/03-02-*.wav`` files) and ids of every clip."""
    paths, labels, splits, ids = [], [], [], []
    for split in ("train", "dev", "test"):
        ds = get_dataset("ravdess", data_root / "ravdess", split=split, label_space="native")
        for item in ds.items[:: max(1, len(ds.items) // limit)][:limit] if limit else ds.items:
            paths.append(item.meta["audio_path"])
            labels.append(item.label)
            splits.append(split)
            ids.append(item.meta["id"])
    tess = sorted((data_root / "tess").glob("*/*.flac"))
    for path in tess[:: max(1, len(tess) // limit)][:limit] if limit else tess:
        paths.append(str(path))
        labels.append(NATIVE_LABELS.index(TESS_TO_RAVDESS[path.stem.rsplit("_", 1)[1]]))
        splits.append("tess")
        ids.append(path.stem)
    if song_dir is not None:
        song = sorted(song_dir.glob("Actor_*/03-02-*.wav"))
        if not song:
            raise SystemExit(f"no RAVDESS song clips (Actor_XX/03-02-*.wav) under {song_dir}")
        for path in song[:: max(1, len(song) // limit)][:limit] if limit else song:
            fields = path.stem.split("-")  # modality, channel, emotion, intensity, statement, repetition, actor
            actor = int(fields[6])
            paths.append(str(path))
            labels.append(int(fields[2]) - 1)
            splits.append("song_" + ("train" if actor <= 16 else "dev" if actor <= 18 else "test"))
            ids.append(path.stem)
    return paths, labels, splits, ids


def build(name: str, *, pad_seconds: float = 0.0, layer: int = -1) -> WhisperSpeechEncoder:
    config = SpeechEncoderConfig(kind="whisper", name=name, pad_seconds=pad_seconds, layer=layer)
    return WhisperSpeechEncoder(config, pretrained=True).eval()


@torch.no_grad()
def pooled_states(encoder: WhisperSpeechEncoder, wave: np.ndarray) -> np.ndarray:
    """``[layers + 1, 2 d]``: each hidden state's mean, then its standard deviation, over the clip's own tokens."""
    waveform = torch.from_numpy(wave)[None]
    if encoder.pad_samples:  # as the encoder does it: silence after the clip, seen as valid by the log-mel
        waveform = torch.nn.functional.pad(waveform, (0, max(encoder.pad_samples - waveform.shape[1], 0)))
    states, _ = encoder.model(*encoder.logmel(waveform, torch.ones_like(waveform, dtype=torch.bool)))
    n = (max(len(wave), 400) // 160 - 1) // 2 + 1  # the clip's tokens (the encoder's own token count)
    return torch.stack([torch.cat([s[0, :n].mean(0), s[0, :n].std(0)]) for s in states]).numpy()


def extract(name: str, paths: list[str], cache: Path, *, pad_seconds: float = 0.0, layer: int = -1) -> np.ndarray:
    """``[clips, states, 2 d]`` pooled states (means, then standard deviations), read from / written to ``cache``."""
    tag = f"{name}_pad{pad_seconds:g}_layer{layer}_{len(paths)}_meanstd"
    file = cache / f"{tag}.npz"
    if file.is_file():
        data = np.load(file, allow_pickle=False)
        if list(data["paths"]) == paths:
            return data["states"]
    encoder = build(name, pad_seconds=pad_seconds, layer=layer)
    states = np.stack(
        [pooled_states(encoder, read_sound_file(p)[0]) for p in tqdm(paths, desc=tag, unit="clip", mininterval=10)]
    )
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, states=states, paths=np.array(paths))
    return states


def fit(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000)).fit(x, y)


def choose(states: np.ndarray, y: np.ndarray, split: np.ndarray, layers: list[int]) -> dict:
    """The (layer, C) with the best dev accuracy, with its test and TESS accuracies."""
    train, dev = split == "train", split == "dev"
    dev_acc = {}
    for layer in tqdm(layers, desc="probe layers", unit="layer"):
        for c in C_GRID:
            model = fit(states[train, layer], y[train], c)
            dev_acc[(layer, c)] = float((model.predict(states[dev, layer]) == y[dev]).mean())
    layer, c = max(dev_acc, key=lambda k: (dev_acc[k], -k[0]))  # ties: the lower (cheaper) layer
    by_layer = {k: max(v for (at, _), v in dev_acc.items() if at == k) for k in layers}
    # for the record only (never used to choose): each layer's test accuracy at its own dev-best C
    test = split == "test"
    best_c = {k: max(C_GRID, key=lambda c, k=k: dev_acc[(k, c)]) for k in layers}
    test_by_layer = {
        k: float((fit(states[train, k], y[train], best_c[k]).predict(states[test, k]) == y[test]).mean())
        for k in layers
    }
    model = fit(states[train, layer], y[train], c)
    return {
        "layer": layer,
        "C": c,
        "dev": dev_acc[(layer, c)],
        **score(model, states[:, layer], y, split),
        "dev_by_layer": by_layer,
        "test_by_layer": test_by_layer,
    }


def candidates(n_states: int) -> list[tuple[str, list[int], str]]:
    """The ``--stats`` feature sets: (name, states, pooling)."""
    single = [(f"state {k}, {pool}", [k], pool) for k in range(n_states) for pool in ("mean", "meanstd")]
    top = list(range(2, n_states))
    return single + [(f"states {top[0]}-{top[-1]}, {pool}", top, pool) for pool in ("mean", "meanstd")]


def features(states: np.ndarray, chosen: list[int], pooling: str) -> np.ndarray:
    """The chosen states' means (``pooling="mean"``) or means and standard deviations, side by side."""
    width = states.shape[2] if pooling == "meanstd" else states.shape[2] // 2
    return np.concatenate([states[:, k, :width] for k in chosen], axis=1)


def actor_cv(x: np.ndarray, y: np.ndarray, split: np.ndarray, actors: np.ndarray, c: float, song: bool) -> float:
    """Mean accuracy on the held-out actors' speech clips over 9 folds of two actors (1-2, ..., 17-18); each
    fold fits on the other sixteen actors' speech (and song, with ``song``)."""
    speech = np.isin(split, ["train", "dev"])
    train_pool = speech | (np.isin(split, ["song_train", "song_dev"]) if song else False)
    accs = []
    for fold in range(9):
        held = np.isin(actors, [2 * fold + 1, 2 * fold + 2])
        model = fit(x[train_pool & ~held], y[train_pool & ~held], c)
        accs.append(float((model.predict(x[speech & held]) == y[speech & held]).mean()))
    return float(np.mean(accs))


def stats_probe(states: np.ndarray, y: np.ndarray, split: np.ndarray, actors: np.ndarray) -> dict:
    """The ``--stats`` protocol: the candidate, C and song choice with the best actor-grouped CV accuracy
    over actors 1-18, refitted on actors 1-18 and scored once on the test actors and TESS."""
    songs = (False, True) if np.isin(split, ["song_train", "song_dev"]).any() else (False,)
    grid = {}
    for name, chosen, pooling in tqdm(candidates(states.shape[1]), desc="stats probe", unit="candidate"):
        x = features(states, chosen, pooling)
        for c in STATS_C_GRID:
            for song in songs:
                grid[(name, c, song)] = actor_cv(x, y, split, actors, c, song)
    name, c, song = max(grid, key=lambda k: grid[k])
    chosen, pooling = next((s, p) for n, s, p in candidates(states.shape[1]) if n == name)
    x = features(states, chosen, pooling)
    pool = np.isin(split, ["train", "dev"] + (["song_train", "song_dev"] if song else []))
    return {
        "features": name,
        "C": c,
        "song_in_training": song,
        "cv": grid[(name, c, song)],
        "cv_other_song_choice": grid.get((name, c, not song)),  # the same features and C, song flipped
        "train_clips": int(pool.sum()),
        **score(fit(x[pool], y[pool], c), x, y, split),
        "cv_grid": {f"{n} | C={cc} | song={s}": v for (n, cc, s), v in grid.items()},
    }


def speaker_normalise(x: np.ndarray, speakers: np.ndarray, how: str) -> np.ndarray:
    """Each speaker's rows centred on that speaker's mean (``how="mean"``), also divided by that speaker's
    standard deviation (``"meanstd"``), or left as they are (``"plain"``); no labels are used."""
    if how == "plain":
        return x
    out = np.empty_like(x)
    for who in np.unique(speakers):
        rows = speakers == who
        out[rows] = x[rows] - x[rows].mean(0)
        if how == "meanstd":
            out[rows] /= x[rows].std(0) + 1e-6
    return out


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy with calm left out of the argmax where no row is calm (TESS: calm cannot be right there)."""
    proba, classes = model.predict_proba(x), np.array(model.classes_)
    calm = NATIVE_LABELS.index("calm")
    if calm in classes and not (y == calm).any():
        proba[:, list(classes).index(calm)] = -1
    return float((classes[proba.argmax(1)] == y).mean())


def speaker_candidates(n_states: int) -> list[tuple[str, list[int], str]]:
    """The ``--speakers`` feature sets: each single state mean-pooled, then states 2 and up stacked."""
    top = list(range(2, n_states))
    stacked = [(f"states {top[0]}-{top[-1]}, {pool}", top, pool) for pool in ("mean", "meanstd")]
    return [(f"state {k}, mean", [k], "mean") for k in range(n_states)] + stacked


def speaker_probe(states: np.ndarray, y: np.ndarray, split: np.ndarray, speakers: np.ndarray) -> dict:
    """The ``--speakers`` protocol: every candidate x normalisation x C fitted on the train actors and scored per
    dev speaker (RAVDESS 17, 18, TESS OAF, YAF); the best per normalisation and overall scored once on the test
    actors, per actor."""
    train, test = split == "train", split == "test"
    dev_speakers = list(np.unique(speakers[np.isin(split, ["dev", "tess"])]))
    grid, models = {}, {}
    for name, chosen, pooling in tqdm(speaker_candidates(states.shape[1]), desc="speaker probe", unit="candidate"):
        for how in NORMALISATIONS:
            x = speaker_normalise(features(states, chosen, pooling), speakers, how)
            for c in SPEAKER_C_GRID:
                model = fit(x[train], y[train], c)
                per = {s: accuracy(model, x[speakers == s], y[speakers == s]) for s in dev_speakers}
                grid[(name, how, c)] = {"dev": float(np.mean(list(per.values()))), "per_speaker": per}
                models[(name, how, c)] = (model, x, max(chosen))

    def best(keys: list) -> tuple:  # ties: the shallower (cheaper) candidate
        return max(keys, key=lambda k: (grid[k]["dev"], -models[k][2]))

    chosen = {how: best([k for k in grid if k[1] == how]) for how in NORMALISATIONS}
    chosen["overall"] = best(list(chosen.values()))
    tested = {}
    for tag, key in chosen.items():
        model, x, deepest = models[key]
        per_actor = {s: accuracy(model, x[speakers == s], y[speakers == s]) for s in np.unique(speakers[test])}
        tested[tag] = {
            "features": key[0],
            "normalisation": key[1],
            "C": key[2],
            "deepest_state": deepest,
            **grid[key],
            "test": float((model.predict(x[test]) == y[test]).mean()),
            "test_per_actor": per_actor,
        }
    table = {}  # per candidate and normalisation: the dev figures at its dev-best C
    for name, _, _ in speaker_candidates(states.shape[1]):
        for how in NORMALISATIONS:
            c = max(SPEAKER_C_GRID, key=lambda c, n=name, h=how: grid[(n, h, c)]["dev"])
            table[f"{name} | {how}"] = {"C": c, **grid[(name, how, c)]}
    return {"chosen": tested, "dev_table": table}


def score(model, x: np.ndarray, y: np.ndarray, split: np.ndarray) -> dict:
    test, tess = split == "test", split == "tess"
    out = {"test": float((model.predict(x[test]) == y[test]).mean())}
    if tess.any():
        proba = model.predict_proba(x[tess])
        classes = list(model.classes_)
        dropped = proba.copy()
        if NATIVE_LABELS.index("calm") in classes:  # calm cannot be right on TESS: argmax over the other seven
            dropped[:, classes.index(NATIVE_LABELS.index("calm"))] = -1
        out["tess_calm_dropped"] = float((np.array(classes)[dropped.argmax(1)] == y[tess]).mean())
        merged = np.array(classes)[proba.argmax(1)]
        merged[merged == NATIVE_LABELS.index("calm")] = NATIVE_LABELS.index("neutral")
        out["tess_calm_merged"] = float((merged == y[tess]).mean())
    return out


def speed(name: str, repeats: int = 5, layer: int = -1) -> dict:
    """Encoder parameters, MB (float32) and ms per 3 s clip up to ``layer``, 1 thread, median of ``repeats``."""
    encoder = build(name, layer=layer)
    params = sum(p.numel() for p in encoder.parameters())
    wave, mask = torch.randn(1, 48000) * 0.1, torch.ones(1, 48000, dtype=torch.bool)
    times = []
    with torch.no_grad():
        encoder(wave, mask)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            encoder(wave, mask)
            times.append((time.perf_counter() - start) * 1000)
    return {"params_M": params / 1e6, "MB_fp32": params * 4 / 2**20, "ms_per_3s_clip": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["whisper-base", "whisper-tiny.en"])
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/speech_probe"))
    parser.add_argument("--limit", type=int, default=0, help="clips per split (0: all); for smoke runs")
    parser.add_argument("--pad-train-every", type=int, default=2, help="padded comparison: every k-th train clip")
    parser.add_argument("--no-padded", action="store_true", help="skip the 30 s padded comparison")
    parser.add_argument("--pad-tess", action="store_true", help="padded comparison: also score TESS (slow)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--speed-only", action="store_true", help="only the size and speed figures")
    parser.add_argument("--stats", action="store_true", help="also the mean+std / multi-state / song protocol")
    parser.add_argument("--song-dir", type=Path, help="RAVDESS song clips (Actor_XX/03-02-*.wav) for --stats")
    parser.add_argument(
        "--speakers",
        action="store_true",
        help="also per-speaker normalisation and the depth chosen by cross-corpus dev",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.speed_only:
        for name in args.models:  # the cost of each depth: layers above the chosen one are not run
            depths = range(1, KNOWN_ARCH[name]["layers"] + 1)
            print(
                name,
                json.dumps(
                    {**speed(name), **{f"ms_to_layer_{k}": speed(name, layer=k)["ms_per_3s_clip"] for k in depths}}
                ),
            )
        return
    paths, labels, splits, _ = clips(args.data_root, args.limit, args.song_dir if args.stats else None)
    y, split = np.array(labels), np.array(splits)
    actors = np.array([int(Path(p).stem.split("-")[6]) if Path(p).stem.count("-") == 6 else 0 for p in paths])
    print({s: int((split == s).sum()) for s in sorted(set(splits))})
    report: dict = {"models": {}}
    for name in args.models:
        states = extract(name, paths, args.cache)
        mean_only = states[:, :, : states.shape[2] // 2]
        result = choose(mean_only, y, split, list(range(states.shape[1])))
        if args.stats:
            result["stats"] = stats_probe(states, y, split, actors)
        if args.speakers:
            speakers = np.array([f"actor {a:02d}" if a else Path(p).parent.name for a, p in zip(actors, paths)])
            keep = ~np.char.startswith(split.astype(str), "song_")
            result["speakers"] = speaker_probe(states[keep], y[keep], split[keep], speakers[keep])
            for tested in result["speakers"]["chosen"].values():
                tested["speed"] = speed(name, layer=tested["deepest_state"])
        result |= speed(name)
        result["at_layer"] = speed(name, layer=result["layer"])
        report["models"][name] = result
        print(name, json.dumps(result))
    best = max(report["models"], key=lambda n: report["models"][n]["dev"])
    report["chosen"] = best
    if not args.no_padded:
        layer, c = report["models"][best]["layer"], report["models"][best]["C"]
        train_idx = np.flatnonzero(split == "train")[:: args.pad_train_every]
        others = np.flatnonzero(np.isin(split, ["dev", "test", "tess"] if args.pad_tess else ["dev", "test"]))
        keep = np.sort(np.concatenate([train_idx, others]))
        sub_paths = [paths[i] for i in keep]
        padded = extract(best, sub_paths, args.cache, pad_seconds=30.0, layer=layer)[:, -1]
        half = padded.shape[1] // 2  # the mean-pooled half, as in the main protocol
        padded, unpadded = padded[:, :half], extract(best, paths, args.cache)[keep, layer, :half]
        compare = {}
        for tag, x in (("unpadded", unpadded), ("padded_30s", padded)):
            model = fit(x[split[keep] == "train"], y[keep][split[keep] == "train"], c)
            dev = split[keep] == "dev"
            compare[tag] = {
                "dev": float((model.predict(x[dev]) == y[keep][dev]).mean()),
                **score(model, x, y[keep], split[keep]),
            }
        report["padding"] = {"model": best, "layer": layer, "C": c, "train_clips": len(train_idx), **compare}
        print("padding", json.dumps(report["padding"]))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
