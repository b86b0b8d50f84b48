"""Emotion timelines for a whole archive of recordings, on one machine or on a Ray cluster.

:func:`predict_corpus` runs every media file of a folder (or of a CSV list) through the video
pipeline and writes one row per segment. The work is split at the natural boundary of
:func:`~mmempathy.media.pipeline.predict_video`: a CPU stage (:func:`file_rows`: decoding, face
detection, voice activity, optional Whisper) turns a file into its segments' samples, a model stage
(:func:`predict_rows`) predicts them in batches. ``engine="local"`` runs both stages in this
process, file after file; ``engine="ray"`` runs the same two functions as a Ray Data pipeline (CPU
tasks for the first, model actors, one GPU each where the cluster has GPUs, for the second), on a
local Ray instance or a cluster (``ray_address``). Either way the results come back to this
process, which writes them, so both engines write the same rows the same way.

The output ``out`` (say ``results.parquet``) is a directory that ``pandas.read_parquet`` and
pyarrow read as one table (:func:`read_corpus`)::

    results.parquet/
        _run.json                               model, labels and settings; a resume must match them
        part-<path hash>-<stamp>.parquet        one per input file: its segments, one row each
        _failures/<path hash>-<stamp>.json      one per failed file: path, error type and message

Each file is written whole (to a temporary name, then renamed). ``<stamp>`` hashes the file's size
and modification time (and its subtitles' and transcript's), so running again skips every file
whose part is there and does again only the files that are new, changed or unfinished; a changed
file's old part is removed once its new one is written. A file that fails (corrupt, empty, no
segment could be made, or any other error) is recorded in ``_failures/`` and the run goes on; the
next run skips it while it is unchanged, unless ``retry_failed=True``. A file is known by its absolute
path with its folders' links resolved, so a resume through another name of the folder (relative,
absolute, a symbolic link) redoes nothing. A damaged ``_run.json`` stops the run before any work
(nothing else is touched). Columns: ``file`` (for a folder walk, the file's absolute path under the
folder's real location; as the CSV wrote it; as given; bytes that are not UTF-8 written as ``\\xff``
escapes), ``segment`` (0, 1, ... in time order),
then :meth:`~mmempathy.media.timeline.Timeline.to_dataframe`'s columns, with every modality the
model reads (NaN where a segment lacked it, weight 0), so every part has the same schema. Each
part's parquet metadata (key ``mmempathy``) holds the file's timeline ``meta`` (duration, text
source, dropped and skipped segments, settings), its size and modification time.

Needs the ``corpus`` extra (``pip install 'mmempathy[corpus]'``: pyarrow, and Ray for ``engine="ray"``).

Example:
    >>> from mmempathy.corpus import predict_corpus, read_corpus  # doctest: +SKIP
    >>> report = predict_corpus("lite", "calls/", "results.parquet", engine="ray")  # doctest: +SKIP
    >>> table = read_corpus("results.parquet")  # doctest: +SKIP
    >>> table.groupby("file")["dominant"].agg(lambda d: d.value_counts().index[0])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mmempathy.corpus.inputs import MEDIA_SUFFIXES, CorpusItem, as_items, dedupe, find_inputs, subtitles_beside
from mmempathy.corpus.stages import ModelWorker, file_rows, load_model, predict_rows, run_local, run_ray, sample_spec
from mmempathy.corpus.store import FAILURES_DIR, CorpusReport, Writer, progress_bar, require
from mmempathy.errors import InputError
from mmempathy.media.config import VideoConfig

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

    from mmempathy.model import EmotionFuser

ENGINES = ("local", "ray")

__all__ = [
    "ENGINES",
    "MEDIA_SUFFIXES",
    "CorpusItem",
    "CorpusReport",
    "ModelWorker",
    "file_rows",
    "find_inputs",
    "predict_corpus",
    "predict_rows",
    "read_corpus",
    "read_failures",
    "subtitles_beside",
]


def predict_corpus(
    model: EmotionFuser | str | Path,
    inputs: str | Path | Iterable[str | Path | CorpusItem],
    out: str | Path,
    *,
    engine: str = "local",
    config: VideoConfig | None = None,
    retry_failed: bool = False,
    device: str | None = None,
    ray_address: str | None = None,
    model_workers: int | None = None,
    progress: bool = True,
) -> CorpusReport:
    """Predict every file of a corpus into a parquet dataset; resumable (see the module's docstring).

    Args:
        model: The model, or a preset name or checkpoint directory to load.
        inputs: A folder, a CSV list (:func:`find_inputs`), or files.
        out: The output directory (made if missing).
        engine: ``"local"`` (this process) or ``"ray"`` (a Ray Data pipeline).
        config: Segmenting and decoding settings (as for ``predict_video``); its ``progress`` is ignored.
        retry_failed: Try again the files that failed in an earlier run although they have not changed.
        device: Torch device of the model (default: CUDA if available); for Ray, that of each model worker.
        ray_address: A Ray cluster to use (``"auto"``, ``"ray://host:10001"``); default: the Ray
            instance this process already started, else a new local one (stopped at the end).
        model_workers: Ray model actors (default: one per GPU of the cluster; without GPUs one per four CPUs).
        progress: A progress bar over files.

    Returns:
        What was done, skipped and failed (:class:`CorpusReport`).

    Raises:
        InputError: Bad inputs or options, a missing extra, or ``out`` holding results made with
            another model or other settings.
    """
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if model_workers is not None and model_workers < 1:
        raise InputError(f"model_workers must be at least 1, got {model_workers}")
    require("pyarrow", "writing parquet")
    if engine == "ray":
        require("ray", "engine='ray'")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory (a parquet dataset), and {out} is a file")
    items = dedupe(find_inputs(inputs) if isinstance(inputs, (str, Path)) else as_items(inputs))
    config = replace(config or VideoConfig(), progress=False)  # one bar over files, not one per file
    # With Ray a model given by name is loaded by the workers; here it only gives labels and the processor.
    fuser = load_model(model, "cpu" if engine == "ray" and isinstance(model, (str, Path)) else device)
    if engine == "ray" and config.adapt != "off":
        log.warning("the person baseline needs a whole file in one place, which the Ray engine does not give: off")
        config = replace(config, adapt="off")
    writer = Writer(out, fuser, config, model if isinstance(model, (str, Path)) else None)
    todo, report = writer.plan(items, retry_failed=retry_failed)
    spec = sample_spec(fuser, config)
    start = time.perf_counter()
    with progress_bar(len(todo), progress) as bar:
        writer.bar = bar
        if engine == "local":
            run_local(fuser, todo, writer, spec, config.batch_size)
        else:
            run_ray(model, todo, writer, spec, config.batch_size, device, ray_address, model_workers)
    writer.finish()
    report.done, report.failed, report.segments = writer.done, len(writer.failures), writer.segments
    report.media_seconds, report.failures = writer.media_seconds, writer.failures
    report.seconds = time.perf_counter() - start
    return report


def read_corpus(out: str | Path) -> pd.DataFrame:
    """Every segment row of a :func:`predict_corpus` output, in the order of ``file`` and ``segment``."""
    pq = require("pyarrow.parquet", "reading parquet")
    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        raise InputError(f"no results in {out}")
    table = pq.ParquetDataset(parts).read().to_pandas()
    return table.sort_values(["file", "segment"], ignore_index=True)


def read_failures(out: str | Path) -> pd.DataFrame:
    """The failed files of a :func:`predict_corpus` output: ``file, path, error, message, time``.

    A record that is not a JSON object (damaged after it was written) is left out with a warning naming it.
    """
    import pandas as pd

    records = []
    for path in sorted((Path(out) / FAILURES_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError) as err:
            record = err
        if isinstance(record, dict):
            records.append(record)
        else:
            warnings.warn(f"left out {path}: a damaged failure record ({record})", UserWarning, stacklevel=2)
    return pd.DataFrame(records, columns=["file", "path", "error", "message", "time"])
