"""Fuzzing what users hand in: checkpoint configs (ModelConfig.from_dict, config.json), run files and
``--set`` overrides of ``mmempathy train``, and the feedback store's rows, adapter files and segments CSVs
of ``mmempathy adapt``: each either works or raises only its documented error."""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmempathy import ModelConfig
from mmempathy.errors import CheckpointError, ConfigError, InputError
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


# --- mmempathy train: run files and --set -----------------------------------------------------------------

KEYS = st.sampled_from(["model", "data", "train", "output_dir", "name", "options", "epochs", "labels", "x"])
RUN = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=10
)


@FAST
@given(
    st.sampled_from([".yaml", ".json"]),
    st.binary(max_size=64)
    | st.text(st.sampled_from("ab:-[]{}!&*?|>'\"#%@` \n\t,.0123456789"), max_size=40).map(str.encode)
    | RUN.map(lambda v: json.dumps(v).encode()),
)
def test_fuzz_run_files_load_as_mappings_or_config_errors(tmp_path_factory, suffix, raw):
    from mmempathy.train.config import load_mapping

    path = tmp_path_factory.mktemp("run") / f"run{suffix}"
    path.write_bytes(raw)
    try:
        data = load_mapping(path)
    except ConfigError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    assert isinstance(data, dict) and all(isinstance(k, str) for k in data)


@FAST
@given(RUN, st.lists(st.text(CHARS, max_size=16) | st.builds("{}={}".format, KEYS, SCALARS), max_size=3))
def test_fuzz_overrides_and_run_shapes_raise_only_their_errors(spec, items):
    from mmempathy.cli.train import apply_override, check_spec

    spec = spec if isinstance(spec, dict) else {"model": spec}
    try:
        for item in items:
            apply_override(spec, item)
        check_spec(spec)
    except (InputError, ConfigError) as err:
        assert str(err) and "\n" not in str(err)
        return
    assert all(spec.get(s) is None or isinstance(spec[s], dict) for s in ("data", "train"))
    assert isinstance(spec.get("model", "tiny"), (str, dict))


# --- mmempathy adapt: the feedback store's rows, adapter.json, segments CSVs ------------------------------

# any SQLite value (NaN would be stored as NULL, which the NOT NULL columns refuse before any reading)
CELL = (
    st.none()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # SQLite text is UTF-8: no lone surrogates
    | st.binary(max_size=24)
)


@pytest.fixture(scope="module")
def feedback_store(tmp_path_factory):
    from mmempathy.feedback import FeedbackStore

    return FeedbackStore(tmp_path_factory.mktemp("fb") / "feedback.sqlite")


@FAST
@given(st.lists(st.tuples(CELL, CELL, CELL, CELL, CELL, CELL), min_size=1, max_size=4), st.booleans())
def test_fuzz_store_rows_are_read_or_named_as_damaged(feedback_store, rows, good_blob):
    """Whatever a row holds (SQLite keeps any type in any column), reading gives the whole rows and names the rest."""
    from mmempathy.feedback import pack
    from mmempathy.modality import Modality

    blob = pack({Modality.TEXT: (torch.zeros(2, 4), torch.ones(2, dtype=torch.bool))})
    with feedback_store.connect() as db:
        db.execute("DELETE FROM corrections")
        for user, label, meta, fingerprints, features, created in rows:
            db.execute(
                "INSERT INTO corrections (user, label, created, source, meta, modalities, fingerprints, features)"
                " VALUES (?, ?, ?, 'api', ?, '[]', ?, ?)",
                (user, label if label is not None else "joy", created if created is not None else "t",
                 meta if meta is not None else "{}", fingerprints if fingerprints is not None else "{}",
                 blob if good_blob else (features if features is not None else b"")),
            )  # fmt: skip
    got = feedback_store.corrections(everyone=True)
    assert len(got) + len(feedback_store.damaged) == len(rows)
    assert all(isinstance(c.label, str) and isinstance(c.meta, dict) and c.encoded for c in got)
    assert all(reason and "\n" not in reason for _, reason in feedback_store.damaged)


@FAST
@given(
    st.binary(max_size=48)
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {"format": st.just("mmempathy-adapter"), "settings": JSON, "labels": JSON, "info": JSON}
    ).map(lambda v: json.dumps(v).encode())
)
def test_fuzz_adapter_json_loads_or_raises_checkpoint_error(tmp_path_factory, raw):
    from mmempathy.feedback import ADAPTER_CONFIG, Adapter, AdaptSettings

    directory = Adapter(AdaptSettings(), ["a", "b"]).save(tmp_path_factory.mktemp("adapter") / "one")
    (directory / ADAPTER_CONFIG).write_bytes(raw)
    try:
        adapter = Adapter.load(directory)
    except CheckpointError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert adapter.labels and all(isinstance(x, str) for x in adapter.labels)


@FAST
@given(
    st.binary(max_size=64)
    | st.lists(st.lists(st.text(st.sampled_from('ab.,0123456789-"\x00 \t/'), max_size=6), max_size=6), max_size=4).map(
        lambda rows: ("source,start,end,label\n" + "\n".join(",".join(r) for r in rows)).encode()
    )
)
def test_fuzz_segments_csv_raises_only_input_errors(tmp_path_factory, raw):
    from mmempathy.feedback import read_segments_csv

    path = tmp_path_factory.mktemp("seg") / "corrected.csv"
    path.write_bytes(raw)
    try:
        pairs = read_segments_csv(path)
    except InputError as err:
        assert str(err) and "\n" not in str(err).strip()
        return
    assert pairs == []  # no row names a readable media file here, so only an empty table can pass
