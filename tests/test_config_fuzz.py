"""Fuzzing the checkpoint config parsing: ModelConfig.from_dict and config.json raise only their documented errors."""

from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmempathy import ModelConfig
from mmempathy.errors import CheckpointError, ConfigError
from mmempathy.hub import load_preset, read_config

CHARS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(CHARS, max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(CHARS, max_size=8), inner, max_size=4),
    max_leaves=12,
)
BASE = load_preset("tiny")["config"]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))


PATHS = [p for p in _paths(BASE) if p]


@st.composite
def mutated_configs(draw):
    """The tiny preset with a few fields (any depth) set to arbitrary JSON values or removed."""
    config = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node = config
        for key in path[:-1]:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            if isinstance(node, dict):
                if draw(st.booleans()):
                    node[path[-1]] = draw(JSON)
                else:
                    node.pop(path[-1], None)
    return config


def _only_config_errors(data):
    try:
        config = ModelConfig.from_dict(data)
    except ConfigError as err:
        assert str(err)
        return
    assert isinstance(config, ModelConfig) and config.modalities
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert json.dumps(again.to_dict()) == json.dumps(config.to_dict())  # what is accepted round-trips (NaN too)


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=int(os.environ.get("MMEMPATHY_FUZZ_EXAMPLES", "1000")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@FAST
@given(mutated_configs() | JSON)
def test_fuzz_model_config_raises_only_config_errors(data):
    _only_config_errors(data)


@pytest.mark.slow
@LONG
@given(mutated_configs() | JSON)
def test_fuzz_model_config_raises_only_config_errors_long(data):
    _only_config_errors(data)


@FAST
@given(st.binary(max_size=64) | JSON.map(lambda v: json.dumps({"config": v}).encode()))
def test_fuzz_config_json_raises_only_checkpoint_errors(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("cfg")
    (path / "config.json").write_bytes(raw)
    try:
        read_config(path)
    except CheckpointError as err:
        assert str(path / "config.json") in str(err)
