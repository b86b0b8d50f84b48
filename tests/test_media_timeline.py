"""Timeline: tables, JSON/CSV round trips, smoothing and plotting, on hand-built segments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmempathy.media.timeline import Segment, Timeline
from mmempathy.output import incongruity

LABELS = ("anger", "joy", "neutral")


def seg(start, probs, present=("text", "audio"), text=None):
    probs = dict(zip(LABELS, probs))
    mods = {m: dict(zip(LABELS, np.roll(list(probs.values()), i))) for i, m in enumerate(present)}
    weights = {m: 1 / len(present) for m in present}
    clash = incongruity([list(d.values()) for d in mods.values()])
    return Segment(start, start + 3.0, probs, mods, weights, list(present), text, incongruity=clash)


@pytest.fixture
def timeline():
    return Timeline(
        [
            seg(3.0, [0.1, 0.8, 0.1], ("text", "audio", "face"), "yay"),
            seg(0.0, [0.7, 0.2, 0.1], text="grr"),
            seg(6.0, [0.2, 0.2, 0.6], ("audio",)),
        ],
        labels=LABELS,
        source="clip.mp4",
        meta={"fps": 2.0},
    )


def test_segments_are_sorted_and_dominant(timeline):
    assert [s.start for s in timeline] == [0.0, 3.0, 6.0]
    assert [s.dominant for s in timeline] == ["anger", "joy", "neutral"]
    assert (timeline.start, timeline.end) == (0.0, 9.0)


def test_dataframe_columns_and_missing_modalities(timeline):
    df = timeline.to_dataframe()
    assert list(df.columns[:6]) == ["start", "end", "dominant", "p_anger", "p_joy", "p_neutral"]
    for col in ["text_p_joy", "audio_p_joy", "face_p_joy", "w_text", "w_audio", "w_face", "present", "text"]:
        assert col in df.columns
    assert len(df) == 3
    assert df["present"].tolist() == ["text+audio", "text+audio+face", "audio"]
    assert np.isnan(df.loc[0, "face_p_joy"]) and df.loc[0, "w_face"] == 0.0
    assert df[["p_anger", "p_joy", "p_neutral"]].sum(axis=1).tolist() == pytest.approx([1, 1, 1])


def test_json_round_trip_file_and_text(timeline, tmp_path):
    path = tmp_path / "t.json"
    text = timeline.to_json(path)
    assert json.loads(path.read_text())["labels"] == list(LABELS)
    for again in (Timeline.from_json(path), Timeline.from_json(text)):
        assert again == timeline


def test_csv(timeline, tmp_path):
    timeline.to_csv(tmp_path / "t.csv")
    df = pd.read_csv(tmp_path / "t.csv")
    assert df["dominant"].tolist() == ["anger", "joy", "neutral"]
    # disagreeing modalities show up; a lone modality has none
    assert df["incongruity"].iloc[1] > 0.1 and df["incongruity"].iloc[2] == 0.0
    assert df["p_joy"].tolist() == pytest.approx([0.2, 0.8, 0.2])


def test_table_has_one_line_per_segment(timeline):
    lines = timeline.to_table().splitlines()
    assert len(lines) == 2 + 3
    assert "joy" in lines[3] and "yay" in lines[3] and "text+audio+face" in lines[3]


@pytest.mark.parametrize(
    "text, width, shown",
    [
        ("So, you stole my joke, and you stole my money.", 24, "So, you stole my joke…"),
        ("Guess what, I got an audition!", 40, "Guess what, I got an audition!"),  # fits: untouched
        ("Guess what,\n  I got   an audition!", 40, "Guess what, I got an audition!"),  # one line
        ("one two three", 8, "one two…"),  # the cut falls on a space: both words are whole
        ("Supercalifragilisticexpialidocious, she said", 12, "Supercalifr…"),  # no word fits: cut inside it
    ],
)
def test_table_cuts_text_between_words_with_an_ellipsis(text, width, shown):
    table = Timeline([seg(0.0, [0.2, 0.7, 0.1], text=text)], labels=LABELS).to_table(max_text=width)
    row = table.splitlines()[2]
    assert row.endswith(" " + shown) and len(shown) <= width


def test_smooth_averages_neighbours_and_keeps_the_rest(timeline):
    smooth = timeline.smooth(3)
    assert smooth is not timeline and timeline[1].probs["joy"] == 0.8  # the original is untouched
    assert smooth[1].probs["joy"] == pytest.approx((0.2 + 0.8 + 0.2) / 3)
    assert smooth[0].probs["anger"] == pytest.approx((0.7 + 0.1) / 2)  # edges average what exists
    assert sum(smooth[2].probs.values()) == pytest.approx(1.0)
    # The face is averaged only where it was present, so it keeps its own values.
    assert smooth[1].modalities["face"] == pytest.approx(timeline[1].modalities["face"])
    assert smooth[1].present == timeline[1].present and smooth.meta["smoothed"] == 3
    assert [s.probs for s in timeline.smooth(1)] == [pytest.approx(s.probs) for s in timeline]
    with pytest.raises(ValueError):
        timeline.smooth(0)


def test_plot_writes_a_png(timeline, tmp_path):
    path = tmp_path / "t.png"
    fig = timeline.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert ax.get_ylabel() == "probability (fused)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(LABELS)[::-1]  # as stacked
    assert fig.axes[3].get_xlabel() == "time (s)" and fig.axes[3].get_ylabel() == "incongruity"
    heights = [bar.get_height() for bar in fig.axes[3].patches]
    assert heights == pytest.approx([s.incongruity for s in timeline])


def test_plot_shows_each_modality_where_it_was_present_in_its_own_top_colour(timeline):
    from matplotlib.colors import to_hex

    from mmempathy.media.plot import _colors

    strip = timeline.plot().axes[2]
    mods = ["text", "audio", "face"]
    assert [t.get_text() for t in strip.get_yticklabels()] == mods
    rects = []  # (x0, x1, y0, y1, colour) of every bar drawn
    for bars in strip.collections:
        for path, color in zip(bars.get_paths(), np.broadcast_to(bars.get_facecolor(), (len(bars.get_paths()), 4))):
            (x0, y0), (x1, y1) = path.vertices.min(0), path.vertices.max(0)
            rects.append((x0, x1, y0, y1, to_hex(color)))

    def colour_at(x, row):
        hits = [c for x0, x1, y0, y1, c in rects if x0 <= x <= x1 and y0 <= row <= y1]
        assert len(hits) <= 1
        return hits[0] if hits else None

    colors = _colors(LABELS)
    for s in timeline:
        for row, m in enumerate(mods):
            want = to_hex(colors[max(s.modalities[m], key=s.modalities[m].get)]) if m in s.modalities else None
            assert colour_at((s.start + s.end) / 2, row) == want, (s.start, m)  # blank where it was missing


def test_empty_timeline_still_serialises_and_plots(tmp_path):
    empty = Timeline([], labels=LABELS)
    assert empty.to_dataframe().empty
    assert Timeline.from_json(empty.to_json()) == empty
    empty.plot(tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 0


def _drawn_x(collections) -> list[tuple[float, float]]:
    """``(x0, x1)`` of every bar in broken_barh collections, by x."""
    spans = [(p.vertices[:, 0].min(), p.vertices[:, 0].max()) for c in collections for p in c.get_paths()]
    return sorted(spans)


def test_overlapping_windows_are_drawn_in_their_middle_so_a_change_shows_when_it_happened():
    from mmempathy.media.timeline import drawn_spans

    window, hop, change = 3.0, 1.5, 6.0
    # The label changes at 6 s: each window reads what most of it held (the window centred on 6 s reads joy).
    windows = [
        Segment(k * hop, k * hop + window, {"anger": 0.1, "joy": 0.9} if k * hop + window / 2 >= change else
                {"anger": 0.9, "joy": 0.1})
        for k in range(8)
    ]  # fmt: skip
    timeline = Timeline(windows, labels=("anger", "joy"))
    starts, ends = drawn_spans(timeline.segments)
    centres = np.array([(s.start + s.end) / 2 for s in timeline])
    assert np.all((starts <= centres) & (centres <= ends))  # each reading is drawn where its window is centred
    assert starts[0] == 0.0 and ends[-1] == timeline.end and np.allclose(starts[1:], ends[:-1])  # no gap, no overlap
    assert np.allclose((ends - starts)[1:-1], hop)
    fig = timeline.plot()
    band = _drawn_x(fig.axes[1].collections)  # the dominant band: one run of anger, one of joy
    assert len(band) == 2 and band[0][0] == 0.0 and band[1][1] == timeline.end
    drawn_change = band[0][1]
    assert band[1][0] == pytest.approx(drawn_change)
    assert abs(drawn_change - change) <= hop / 2 + 1e-9  # drawn from each window's start it would be 1.5 s early
    bars = sorted((p.get_x(), p.get_x() + p.get_width()) for p in fig.axes[0].patches if p.get_height() > 0.5)
    assert np.allclose(bars, np.stack([starts, ends], axis=1))  # the stacked bars follow the same spans
    frame = timeline.to_dataframe()  # what is written stays the windows' own times
    assert frame["start"].tolist() == [k * hop for k in range(8)]
    assert frame["end"].tolist() == [k * hop + window for k in range(8)]
    assert [s["end"] for s in json.loads(timeline.to_json())["segments"]] == frame["end"].tolist()


def test_segments_that_do_not_overlap_are_drawn_over_their_own_spans():
    from mmempathy.media.timeline import drawn_spans

    # Windows with hop == window, then speech turns with gaps between them (--segment-by speech).
    cases = {
        ((0.0, 3.0), (3.0, 6.0), (6.0, 7.2)): [(0.0, 7.2)],
        ((0.4, 2.1), (3.0, 5.5), (5.5, 6.0), (8.0, 9.5)): [(0.4, 2.1), (3.0, 6.0), (8.0, 9.5)],
    }
    for spans, runs in cases.items():
        timeline = Timeline([Segment(a, b, {"joy": 1.0}) for a, b in spans], labels=("joy",))
        starts, ends = drawn_spans(timeline.segments)
        assert list(zip(starts, ends)) == list(spans)
        assert _drawn_x(timeline.plot().axes[1].collections) == runs  # touching turns make one run, gaps stay
