"""ONNX export of a model, and a runtime that predicts with onnxruntime and never imports PyTorch.

:func:`export_onnx` (``mmempathy export-onnx DIR``) writes a directory:

* ``text.onnx``: ``input_ids``, ``attention_mask`` ``[b, t]`` -> ``tokens`` ``[b, t, d]``, ``token_mask``.
* ``audio.onnx``: Whisper encoders after the log-mel front end, ``feats`` ``[b, f, t]``, ``frame_mask``
  ``[b, t]``, ``lengths`` (valid samples per item) -> ``tokens``, ``token_mask``; the front end runs in NumPy
  (:func:`whisper_log_mel`, its filter bank saved as ``mel_filters.npy``). Other speech encoders take
  ``waveform``, ``mask`` ``[b, n]``.
* ``face.onnx``: crops ``[n, c, s, s]`` -> ``features`` ``[n, d]``, run on the frames that are there only.
* ``fusion.onnx``: each modality's ``<m>_tokens``, ``<m>_mask`` -> ``probs`` ``[b, c]``, ``modality_probs``
  ``[b, m, c]``, ``weights`` ``[b, m]``, ``present`` ``[b, m]``: fusion, heads and calibration.
* ``tokenizer/tokenizer.json`` (read by the ``tokenizers`` package) and ``config.json``: the model's
  config (labels, modalities, preprocessing, calibration) plus what the runtime needs besides.

Batch and length axes are dynamic. :class:`OnnxEmotionFuser` reads such a directory: the same
validation as :class:`~mmempathy.processing.Processor`, then the graphs, then the same
:class:`~mmempathy.output.EmotionResult`. Its install needs onnxruntime, NumPy, OpenCV and tokenizers
(for videos :data:`mmempathy.extras.VIDEO_PACKAGES`), not torch.

Letters: ``b`` batch, ``t`` tokens or frames, ``n`` samples or crops, ``f`` mel bands, ``d`` features,
``m`` modalities, ``c`` classes.
"""

from mmempathy.onnx.export import OPSET, check_opset, export_onnx, graph_opset
from mmempathy.onnx.files import CONFIG_NAME, FORMAT, MEL_FILTERS, TOKENIZER_FILE, VERSION, pool_stride
from mmempathy.onnx.parity import max_difference, parity_samples
from mmempathy.onnx.runtime import OnnxEmotionFuser, OnnxProcessor, whisper_log_mel

__all__ = [
    "CONFIG_NAME",
    "FORMAT",
    "MEL_FILTERS",
    "OPSET",
    "TOKENIZER_FILE",
    "VERSION",
    "OnnxEmotionFuser",
    "OnnxProcessor",
    "check_opset",
    "export_onnx",
    "graph_opset",
    "max_difference",
    "parity_samples",
    "pool_stride",
    "whisper_log_mel",
]
