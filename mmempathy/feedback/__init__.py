"""Online corrections: a store that survives restarts, and small per-user adapters trained on it.

``fuser.feedback(item, label, user=...)`` encodes the item once and records its **encoder outputs**
(so adapting later needs no media), the corrected label, who gave it and when, in a
:class:`FeedbackStore`. ``fuser.adapt(...)`` trains a small :class:`Adapter` on those corrections
mixed with a *replay buffer* of original training data, where a distillation prior holds it to the
base model's own predictions (what keeps the model from forgetting; see :func:`train_adapter`), and
saves it beside the base weights (``<checkpoint>/adapters/<name>/adapter.{json,safetensors}``); the
base ``model.safetensors`` is never written. ``fuser.use_adapter(None)`` switches it off and gives
back the base model's outputs exactly; :func:`delete_adapter` removes its files.

Two kinds of adapter:

* ``"calibration"``: a per-user head on the fused logits, ``z' = z (I + A) + b`` (``A`` and ``b``
  start at zero, so a new adapter changes nothing). ``c^2 + c`` numbers (56 for seven labels); it
  trains on the base model's logits, which are computed once, so it takes milliseconds.
* ``"lora"``: LoRA (``peft``, the ``train`` extra) on every linear layer of the fusion and the heads.
  More capacity (thousands of numbers), and each step runs the fusion.

Why SQLite for the store: one file, every write a transaction (a crash or a bad item in the middle
of a batch leaves the rows already stored intact, never half a row), safe for several processes (the
coach's web workers and a training job) and readable with standard tools. Each row's tensors are one
safetensors blob, so nothing is ever unpickled.

Where each part lives: ``store`` (the SQLite store and its rows), ``recording`` (checking and
encoding an item into a correction), ``importing`` (a segments CSV, the coach's answers), ``adapter``
(the adapter, switching it on and off, its files), ``files`` (where a model's store and adapters
live, deleting an adapter), ``training`` (training an adapter, ``adapt``). Dependence runs that way
round: ``files`` <- ``store`` <- ``recording`` <- ``importing``; ``files`` <- ``adapter`` <-
``training``. The names below are the package's interface.

Example:
    >>> fuser = EmotionFuser.from_pretrained("lite")  # doctest: +SKIP
    >>> fuser.feedback({"audio": wave, "sample_rate": 16000}, "anger", user="ana")  # doctest: +SKIP
    >>> fuser.adapt(user="ana", replay=train_samples)  # doctest: +SKIP
    >>> fuser.use_adapter(None)  # back to the base model  # doctest: +SKIP
"""

from mmempathy.feedback.adapter import Adapter, AdaptSettings, use_adapter
from mmempathy.feedback.files import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    adapter_path,
    check_adapter_directory,
    default_directory,
    delete_adapter,
    read_adapter_meta,
)
from mmempathy.feedback.importing import CoachImport, import_coach, read_segments_csv, record_segments_csv
from mmempathy.feedback.recording import encode_samples, record
from mmempathy.feedback.store import (
    STORE_NAME,
    Correction,
    FeedbackStore,
    FeedbackStoreError,
    counts_text,
    open_store,
    pack,
    unpack,
)
from mmempathy.feedback.training import adapt, anchor_loss, base_logits, collate, lora_loss, train_adapter

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "AdaptSettings",
    "Adapter",
    "CoachImport",
    "Correction",
    "FeedbackStore",
    "FeedbackStoreError",
    "STORE_NAME",
    "adapt",
    "adapter_path",
    "anchor_loss",
    "base_logits",
    "check_adapter_directory",
    "collate",
    "counts_text",
    "default_directory",
    "delete_adapter",
    "encode_samples",
    "import_coach",
    "lora_loss",
    "open_store",
    "pack",
    "read_adapter_meta",
    "read_segments_csv",
    "record",
    "record_segments_csv",
    "train_adapter",
    "unpack",
    "use_adapter",
]
