"""Media handling: from a video or audio file to an emotion timeline.

``decode`` streams frames and audio through PyAV, ``faces`` finds and tracks faces with OpenCV,
``blendshapes`` scores their expressions (MediaPipe's Face Landmarker models; the ``faces`` extra),
``subtitles`` parses SRT/WebVTT, ``config`` holds the settings (:class:`VideoConfig`), ``pipeline``
cuts a file into segments (``segmenting``'s spans, filled by the ``assembler``) and predicts them, and
``timeline`` holds the result. The names below load on first use, so that importing the settings does
not load PyAV or OpenCV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmempathy.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "MediaInfo": "mmempathy.media.decode",
    "iter_frames": "mmempathy.media.decode",
    "iter_media": "mmempathy.media.decode",
    "load_audio": "mmempathy.media.decode",
    "probe": "mmempathy.media.decode",
    "FaceDetector": "mmempathy.media.faces",
    "FaceExtractor": "mmempathy.media.faces",
    "FaceTracker": "mmempathy.media.faces",
    "BlendshapeExtractor": "mmempathy.media.blendshapes",
    "VideoConfig": "mmempathy.media.config",
    "iter_samples": "mmempathy.media.pipeline",
    "predict_video": "mmempathy.media.pipeline",
    "Cue": "mmempathy.media.subtitles",
    "parse_srt": "mmempathy.media.subtitles",
    "parse_vtt": "mmempathy.media.subtitles",
    "read_subtitles": "mmempathy.media.subtitles",
    "Segment": "mmempathy.media.timeline",
    "Timeline": "mmempathy.media.timeline",
}

__all__ = [
    "BlendshapeExtractor",
    "Cue",
    "FaceDetector",
    "FaceExtractor",
    "FaceTracker",
    "MediaInfo",
    "Segment",
    "Timeline",
    "VideoConfig",
    "iter_frames",
    "iter_media",
    "iter_samples",
    "load_audio",
    "parse_srt",
    "parse_vtt",
    "predict_video",
    "probe",
    "read_subtitles",
]

if TYPE_CHECKING:
    from mmempathy.media.blendshapes import BlendshapeExtractor
    from mmempathy.media.config import VideoConfig
    from mmempathy.media.decode import MediaInfo, iter_frames, iter_media, load_audio, probe
    from mmempathy.media.faces import FaceDetector, FaceExtractor, FaceTracker
    from mmempathy.media.pipeline import iter_samples, predict_video
    from mmempathy.media.subtitles import Cue, parse_srt, parse_vtt, read_subtitles
    from mmempathy.media.timeline import Segment, Timeline


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
