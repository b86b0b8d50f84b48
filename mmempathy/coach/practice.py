"""What the trainer does, apart from the web: sessions, answers, feedback, progress, export.

Spaced repetition (Leitner boxes): for each person and item the box is the number of correct
answers in a row at the end of their history with it. A new session takes items whose last
answer was wrong first (up to half the session), then items never seen, then seen items from
the lowest box up, so a missed item comes back in the next session and keeps coming back
until it is answered right.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import threading
from collections import defaultdict
from typing import Any

from mmempathy.coach.db import Database, now
from mmempathy.coach.items import Item, Library, Reader
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.output import EmotionResult
from mmempathy.respond import STRATEGIES, Responder, claims_feeling, read

EXPORT_COLUMNS = (
    "person", "session_id", "position", "item_id", "item_kind", "truth", "answer", "intensity", "correct",
    "model_label", "model_strategy", "response_strategy", "response_text", "strategy_match", "answered", "responded",
)  # fmt: skip
# What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
FORMULA_STARTS = frozenset("=+-@\t\r")

# Rough cues of a written reply's strategy, checked in order (a heuristic for free text only).
STRATEGY_CUES = (
    ("Providing Suggestions", r"\b(you could|you might|maybe try|try to|how about|why not|would it help)\b"),
    ("Reflection of feelings", r"\b(you sound|sounds like you|it seems|comes across|you seem)\b"),
    ("Restatement or Paraphrasing", r"\b(so you|what you('re| are) saying|if i understand|you said)\b"),
    ("Self-disclosure", r"\b(i (have|had|was|went|once)|me too|same happened)\b"),
    (
        "Affirmation and Reassurance",
        r"\b(it's okay|it is okay|you('re| are) not alone|well done|that's great|makes sense)\b",
    ),
    ("Information", r"\b(many people|it is common|studies|research|usually)\b"),
    ("Question", r"\?\s*$"),
)


def guess_strategy(text: str) -> str:
    """The ESConv strategy a written reply most looks like (keyword cues; ``Others`` when none)."""
    lowered = text.strip().lower()
    return next((s for s, cue in STRATEGY_CUES if re.search(cue, lowered)), "Others")


class Coach:
    """Sessions over a library, stored in a database, with the model's readings as feedback.

    Args:
        db: The database.
        library: The practice items.
        reader: Reads an item with the model (see :func:`mmempathy.coach.items.model_reader`).
    """

    def __init__(self, db: Database, library: Library, reader: Reader) -> None:
        self.db, self.library, self.reader = db, library, reader
        self.readings: dict[str, EmotionResult | str] = {}  # item id -> reading, or why it failed
        self.lock = threading.Lock()  # one model call at a time (the model is not re-entrant on CPU threads)

    # --- people and sessions ------------------------------------------------------------------

    def person(self, name: str) -> int:
        """The id of the person called ``name`` (created on first use)."""
        name = " ".join(name.split())
        if not name or len(name) > 60:
            raise InputError("a name needs 1 to 60 characters")
        with self.db.connect() as db:
            db.execute("INSERT OR IGNORE INTO people (name, created) VALUES (?, ?)", (name, now()))
            return db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()[0]

    def people(self) -> list[dict[str, Any]]:
        with self.db.connect() as db:
            rows = db.execute(
                "SELECT p.id, p.name, COUNT(a.id) AS answered, COALESCE(AVG(a.correct), 0) AS accuracy "
                "FROM people p LEFT JOIN answers a ON a.person_id = p.id GROUP BY p.id ORDER BY p.name"
            ).fetchall()
        return [dict(r) for r in rows]

    def name_of(self, person_id: int) -> str:
        with self.db.connect() as db:
            row = db.execute("SELECT name FROM people WHERE id = ?", (person_id,)).fetchone()
        if row is None:
            raise KeyError(person_id)
        return row[0]

    def start_session(self, person_id: int, size: int = 6, kinds: tuple[str, ...] = (), seed: int | None = None) -> int:
        """A new session of ``size`` items, chosen by spaced repetition; returns its id."""
        pool = [i for i in self.library.items.values() if not kinds or i.kind in kinds]
        if not pool:
            raise InputError("no items to practise on" + (f" of kind {', '.join(kinds)}" if kinds else ""))
        size = max(1, min(int(size), len(pool)))
        with self.db.connect() as db:
            history = db.execute(
                "SELECT item_id, correct FROM answers WHERE person_id = ? ORDER BY answered, id", (person_id,)
            ).fetchall()
            done = db.execute("SELECT COUNT(*) FROM sessions WHERE person_id = ?", (person_id,)).fetchone()[0]
            chosen = schedule(pool, history, size, random.Random(seed if seed is not None else person_id * 1009 + done))
            cur = db.execute(
                "INSERT INTO sessions (person_id, started, items) VALUES (?, ?, ?)",
                (person_id, now(), json.dumps([i.id for i in chosen])),
            )
            return int(cur.lastrowid)

    def session(self, session_id: int) -> dict[str, Any]:
        with self.db.connect() as db:
            row = db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise KeyError(session_id)
            answers = {
                r["position"]: dict(r) for r in db.execute("SELECT * FROM answers WHERE session_id = ?", (session_id,))
            }
        return {"id": row["id"], "person_id": row["person_id"], "items": json.loads(row["items"]), "answers": answers}

    # --- readings, answers, responses ---------------------------------------------------------

    def reading(self, item: Item) -> EmotionResult | str:
        """The model's reading of ``item``, or the reason it could not be read (cached)."""
        with self.lock:
            if item.id not in self.readings:
                try:
                    result = self.reader(item)
                    read(result)  # a NaN or out-of-range probability makes the item unreadable, not the page broken
                    self.readings[item.id] = result
                except Exception as err:  # a clip that breaks the decoder must not break the page
                    self.readings[item.id] = f"the model could not read this item ({type(err).__name__}: {err})"
                    self.library.notes.append(f"item {item.id}: {self.readings[item.id]}")
            return self.readings[item.id]

    def model_strategy(self, item: Item, reading: EmotionResult | str):
        if isinstance(reading, str):
            return None
        return Responder().respond(reading, utterance=item.text.split(": ", 1)[-1] if item.text else None)

    def answer(self, session_id: int, position: int, emotion: str, intensity: int) -> dict[str, Any]:
        """Record the person's reading of one item (once: a repeated submit changes nothing)."""
        sess = self.session(session_id)
        if not 0 <= position < len(sess["items"]):
            raise InputError(f"session {session_id} has no item {position}")
        if emotion not in DEFAULT_LABELS:
            raise InputError(f"unknown emotion {emotion!r}")
        if not 1 <= int(intensity) <= 3:
            raise InputError("intensity must be 1 (mild), 2 (clear) or 3 (strong)")
        item = self.library.items.get(sess["items"][position])
        if item is None:
            raise InputError(f"item {sess['items'][position]} is no longer in the library")
        reading = self.reading(item)
        response = self.model_strategy(item, reading)
        with self.db.connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO answers (session_id, person_id, position, item_id, item_kind, truth, answer, "
                "intensity, correct, model_label, model_strategy, answered) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    session_id, sess["person_id"], position, item.id, item.kind, item.truth, emotion, int(intensity),
                    int(emotion == item.truth), None if isinstance(reading, str) else reading.label,
                    response.strategy if response else None, now(),
                ),
            )  # fmt: skip
        return self.session(session_id)["answers"][position]

    def respond(self, session_id: int, position: int, strategy: str | None, text: str | None) -> dict[str, Any]:
        """Record the person's response to one answered item, compared with respond's strategy."""
        text = (text or "").strip()[:500] or None
        if strategy and strategy not in STRATEGIES:
            raise InputError(f"unknown strategy {strategy!r}")
        if not strategy and not text:
            raise InputError("pick a strategy or write a response")
        strategy = strategy or guess_strategy(text)
        with self.db.connect() as db:
            row = db.execute(
                "SELECT model_strategy FROM answers WHERE session_id = ? AND position = ?", (session_id, position)
            ).fetchone()
            if row is None:
                raise InputError("name the emotion before responding")
            match = None if row[0] is None else int(row[0] == strategy)
            db.execute(
                "UPDATE answers SET response_strategy = ?, response_text = ?, strategy_match = ?, responded = ? "
                "WHERE session_id = ? AND position = ? AND responded IS NULL",
                (strategy, text, match, now(), session_id, position),
            )
        return self.session(session_id)["answers"][position]

    def feedback(self, item: Item, answer: dict[str, Any] | None) -> dict[str, Any]:
        """What the page shows after an answer: truth, the model's readings, weights, respond's choice."""
        reading = self.reading(item)
        out: dict[str, Any] = {"truth": item.truth, "answer": answer}
        if isinstance(reading, str):
            out["error"] = reading
            return out
        response = self.model_strategy(item, reading)
        out |= {
            "fused": reading.probs,
            "label": reading.label,
            "modalities": reading.modalities,
            "weights": reading.weights,
            "response": response,
        }
        if answer and answer.get("response_text") and claims_feeling(answer["response_text"]):
            out["wording_note"] = (
                "Your response says what the person feels. What we can see is what they express; "
                "try 'you sound ...' or 'it comes across as ...', and ask."
            )
        return out

    # --- progress and export ------------------------------------------------------------------

    def progress(self, person_id: int) -> dict[str, Any]:
        """Accuracy per emotion, the confusion matrix (truth x answer), and accuracy per session."""
        with self.db.connect() as db:
            rows = [dict(r) for r in db.execute("SELECT * FROM answers WHERE person_id = ? ORDER BY id", (person_id,))]
        per_emotion = {}
        for label in DEFAULT_LABELS:
            hits = [r["correct"] for r in rows if r["truth"] == label]
            per_emotion[label] = {"n": len(hits), "accuracy": sum(hits) / len(hits) if hits else None}
        confusion = {t: {a: 0 for a in DEFAULT_LABELS} for t in DEFAULT_LABELS}
        for r in rows:
            if r["truth"] in confusion:
                confusion[r["truth"]][r["answer"]] += 1
        by_session: dict[int, list[int]] = defaultdict(list)
        for r in rows:
            by_session[r["session_id"]].append(r["correct"])
        sessions = [{"session": s, "n": len(c), "accuracy": sum(c) / len(c)} for s, c in sorted(by_session.items())]
        matched = [r["strategy_match"] for r in rows if r["strategy_match"] is not None]
        return {
            "answered": len(rows),
            "accuracy": sum(r["correct"] for r in rows) / len(rows) if rows else None,
            "per_emotion": per_emotion,
            "confusion": confusion,
            "sessions": sessions,
            "improvement": sessions[-1]["accuracy"] - sessions[0]["accuracy"] if len(sessions) > 1 else None,
            "strategy_agreement": sum(matched) / len(matched) if matched else None,
            "model_agreement": _mean([int(r["model_label"] == r["answer"]) for r in rows if r["model_label"]]),
        }

    def export_csv(self) -> str:
        """Everyone's answers, one row each, for a trainer (and for feeding labels back to a model)."""
        with self.db.connect() as db:
            rows = db.execute(
                "SELECT p.name AS person, a.* FROM answers a JOIN people p ON p.id = a.person_id ORDER BY a.id"
            ).fetchall()
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EXPORT_COLUMNS)
        for r in rows:
            writer.writerow([spreadsheet_safe(r[c]) for c in EXPORT_COLUMNS])
        return buf.getvalue()

    def plot_png(self, person_id: int) -> bytes:
        """The progress plot: accuracy per session, and accuracy per emotion."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        prog = self.progress(person_id)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
        xs = list(range(1, len(prog["sessions"]) + 1))
        ax1.plot(xs, [100 * s["accuracy"] for s in prog["sessions"]], marker="o")
        ax1.set(xlabel="session", ylabel="accuracy (%)", ylim=(-5, 105), title="over sessions")
        if xs:
            ax1.set_xticks(xs)
        labels = list(DEFAULT_LABELS)
        acc = [100 * (prog["per_emotion"][k]["accuracy"] or 0) for k in labels]
        ax2.bar(range(len(labels)), acc, color="#4a7fb5")
        ax2.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
        ax2.set(ylim=(0, 105), title="per emotion")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()


def schedule(pool: list[Item], history: list[Any], size: int, rng: random.Random) -> list[Item]:
    """Pick ``size`` items: missed ones first (at most half), then unseen, then by Leitner box."""
    streak: dict[str, int] = {}
    last: dict[str, int] = {}
    for item_id, correct in history:
        streak[item_id] = streak.get(item_id, 0) + 1 if correct else 0
        last[item_id] = correct
    missed = [i for i in pool if last.get(i.id) == 0]
    unseen = [i for i in pool if i.id not in last]
    seen = [i for i in pool if last.get(i.id) == 1]
    for group in (missed, unseen, seen):
        rng.shuffle(group)
    seen.sort(key=lambda i: streak[i.id])  # stable: shuffled within a box
    chosen = missed[: max(1, size // 2)] if missed else []
    rest = [i for i in unseen + seen + missed if i not in chosen]
    chosen += rest[: size - len(chosen)]
    rng.shuffle(chosen)
    return chosen


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as text: a string a spreadsheet would run as a formula
    (``=HYPERLINK(...)``, ``+``, ``-``, ``@``, or a tab or carriage return first) gets a leading ``'``.

    Example:
        >>> spreadsheet_safe("=1+1"), spreadsheet_safe("Ana"), spreadsheet_safe(3)
        ("'=1+1", 'Ana', 3)
    """
    if isinstance(value, str) and (value[:1] in FORMULA_STARTS or value.lstrip()[:1] in FORMULA_STARTS):
        return "'" + value
    return value


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None
