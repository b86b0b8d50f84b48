"""The examples' own logic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd


def load_example(name: str):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_batch_folder_summary_reports_time_shares_and_disagreement():
    table = pd.DataFrame(
        {
            "start": [0.0, 3.0, 6.0, 9.0],
            "end": [3.0, 6.0, 9.0, 16.0],
            "dominant": ["anger", "joy", "anger", "sadness"],
            "incongruity": [0.1, 0.7, 0.2, 0.9],
        }
    )
    text = load_example("batch_folder").summary(table)
    assert text == (
        "4 segments, 3 emotions by time: sadness 44%, anger 38%, joy 19%; "
        "modalities disagree in 2 of 4 (incongruity > 0.5)"
    )
