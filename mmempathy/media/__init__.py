"""Media handling: from a video or audio file to an emotion timeline.

``decode`` streams frames and audio through PyAV, ``faces`` finds and tracks faces with OpenCV,
``subtitles`` parses SRT/WebVTT, ``pipeline`` cuts a file into segments and predicts them, and
``timeline`` holds the result.
"""

from mmempathy.media.decode import MediaInfo, iter_frames, iter_media, load_audio, probe
from mmempathy.media.faces import FaceDetector, FaceExtractor, FaceTracker
from mmempathy.media.pipeline import VideoConfig, iter_samples, predict_video
from mmempathy.media.subtitles import Cue, parse_srt, parse_vtt, read_subtitles
from mmempathy.media.timeline import Segment, Timeline

__all__ = [
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
