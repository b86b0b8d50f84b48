"""The coach's web pages (Flask): thin routes over :class:`~mmempathy.coach.practice.Coach`.

Example:
    >>> app = create_app(coach)  # doctest: +SKIP
    >>> app.test_client().get("/").status_code  # doctest: +SKIP
    200
"""

from __future__ import annotations

import mimetypes

from flask import Flask, Response, abort, jsonify, redirect, render_template_string, request, send_file, url_for

from mmempathy.coach.pages import FEEDBACK, HOME, ITEM, PERSON, PROGRESS
from mmempathy.coach.practice import Coach
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.respond import STRATEGIES

KINDS = ("video", "voice", "face", "text")


def create_app(coach: Coach) -> Flask:
    """The Flask application serving ``coach``."""
    app = Flask("mmempathy.coach")
    app.config["coach"] = coach

    @app.errorhandler(InputError)
    def bad_input(err: InputError):
        if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
            return jsonify(error=str(err)), 400
        return render_template_string(HOME, coach=coach, error=str(err), kinds=KINDS), 400

    @app.get("/")
    def home():
        return render_template_string(HOME, coach=coach, error=None, kinds=KINDS)

    @app.post("/people")
    def add_person():
        return redirect(url_for("person", person_id=coach.person(request.form.get("name", ""))), code=303)

    @app.get("/p/<int:person_id>")
    def person(person_id: int):
        name = _or_404(coach.name_of, person_id)
        counts = {k: sum(i.kind == k for i in coach.library.items.values()) for k in KINDS}
        return render_template_string(
            PERSON, name=name, person_id=person_id, counts=counts, prog=coach.progress(person_id)
        )

    @app.post("/p/<int:person_id>/sessions")
    def new_session(person_id: int):
        _or_404(coach.name_of, person_id)
        kinds = tuple(k for k in request.form.getlist("kind") if k in KINDS)
        session_id = coach.start_session(person_id, int(request.form.get("size", 6) or 6), kinds)
        return redirect(url_for("item", session_id=session_id, position=0), code=303)

    @app.get("/s/<int:session_id>/<int:position>")
    def item(session_id: int, position: int):
        sess = _or_404(coach.session, session_id)
        if not 0 <= position < len(sess["items"]):
            abort(404)
        item = coach.library.items.get(sess["items"][position])
        answer = sess["answers"].get(position)
        context = dict(
            sess=sess, position=position, item=item, answer=answer, labels=DEFAULT_LABELS, strategies=STRATEGIES,
            name=coach.name_of(sess["person_id"]), total=len(sess["items"]),
        )  # fmt: skip
        if item is None:
            return render_template_string(ITEM, missing=True, **context)
        if answer is None:
            return render_template_string(ITEM, missing=False, **context)
        return render_template_string(FEEDBACK, fb=coach.feedback(item, answer), **context)

    @app.post("/s/<int:session_id>/<int:position>/answer")
    def answer(session_id: int, position: int):
        _or_404(coach.session, session_id)
        coach.answer(session_id, position, request.form.get("emotion", ""), int(request.form.get("intensity", 2) or 2))
        return redirect(url_for("item", session_id=session_id, position=position), code=303)

    @app.post("/s/<int:session_id>/<int:position>/response")
    def response(session_id: int, position: int):
        _or_404(coach.session, session_id)
        coach.respond(session_id, position, request.form.get("strategy") or None, request.form.get("text"))
        return redirect(url_for("item", session_id=session_id, position=position), code=303)

    @app.get("/p/<int:person_id>/progress")
    def progress(person_id: int):
        name = _or_404(coach.name_of, person_id)
        return render_template_string(
            PROGRESS, name=name, person_id=person_id, prog=coach.progress(person_id), labels=DEFAULT_LABELS
        )

    @app.get("/p/<int:person_id>/progress.png")
    def progress_png(person_id: int):
        _or_404(coach.name_of, person_id)
        return Response(coach.plot_png(person_id), mimetype="image/png")

    @app.get("/export.csv")
    def export():
        return Response(
            coach.export_csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=coach-results.csv"},
        )

    @app.get("/media/<path:item_id>")
    def media(item_id: str):
        # Only files of library items are served, by item id: never a path from the request.
        item = coach.library.items.get(item_id)
        if item is None or item.path is None or not item.path.is_file():
            abort(404)
        return send_file(item.path, mimetype=mimetypes.guess_type(item.path.name)[0], conditional=True)

    # --- JSON, for scripts and tests ----------------------------------------------------------

    @app.get("/api/progress/<int:person_id>")
    def api_progress(person_id: int):
        _or_404(coach.name_of, person_id)
        return jsonify(coach.progress(person_id))

    @app.post("/api/sessions/<int:session_id>/<int:position>/answer")
    def api_answer(session_id: int, position: int):
        _or_404(coach.session, session_id)
        body = request.get_json(force=True, silent=True) or {}
        row = coach.answer(session_id, position, str(body.get("emotion", "")), int(body.get("intensity", 2)))
        item = coach.library.items[row["item_id"]]
        fb = coach.feedback(item, row)
        if fb.get("response") is not None:
            fb["response"] = fb["response"].to_dict()
        return jsonify(fb)

    return app


def _or_404(fn, key):
    try:
        return fn(key)
    except KeyError:
        abort(404)
