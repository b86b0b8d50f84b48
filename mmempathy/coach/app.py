"""The coach's web pages (Flask): thin routes over :class:`~mmempathy.coach.practice.Coach`.

The app holds everyone's names and answers, so it defends itself as a web app with what Flask and
Werkzeug give: only the Host names it is served under are answered (``TRUSTED_HOSTS``: a page that
rebinds its own DNS name to 127.0.0.1 cannot read ``/export.csv``); a POST whose ``Origin`` (or
``Sec-Fetch-Site``) says it comes from another site is refused; bodies are capped
(``MAX_CONTENT_LENGTH``); ids are digits within SQLite's range (a converter), numbers in forms are
checked, and every refusal is a short page or a JSON ``{"error": ...}`` with a 4xx status.

Example:
    >>> app = create_app(coach)  # doctest: +SKIP
    >>> app.test_client().get("/").status_code  # doctest: +SKIP
    200
"""

from __future__ import annotations

import mimetypes
import os
import re
import socket
import sqlite3
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, abort, jsonify, redirect, render_template_string, request, send_file, url_for
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter
from werkzeug.serving import BaseWSGIServer, select_address_family
from werkzeug.serving import make_server as werkzeug_server

from mmempathy.coach.pages import ERROR, FEEDBACK, HOME, ITEM, PERSON, PROGRESS
from mmempathy.coach.practice import Coach
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.respond import STRATEGIES

KINDS = ("video", "voice", "face", "text")
# Names of this machine a browser uses. Werkzeug cannot match a bracketed IPv6 address ([::1]) against
# a trusted list, so a server on ::1 is reached as http://localhost:PORT/.
LOCAL_HOSTS = ("localhost", "127.0.0.1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
MAX_BODY = 64 * 1024  # the largest form holds a 500-character response; anything much larger is refused (413)


class RowId(IntegerConverter):
    """A row id or a position in a URL: at most 19 digits and within SQLite's integers (else 404, not 500)."""

    regex = r"\d{1,19}"

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, max=2**63 - 1)


def trusted_hosts(host: str, extra: Sequence[str] = ()) -> list[str] | None:
    """The Host names the app answers when bound to ``host``: this machine's names, ``host`` and ``extra``.

    ``None`` (any name) only for a server bound to every interface without ``extra`` names, which
    anyone on the network can reach anyway.
    """
    if host in WILDCARD_HOSTS and not extra:
        return None
    return list(dict.fromkeys([*LOCAL_HOSTS, *([host] if host not in WILDCARD_HOSTS else []), *extra]))


def address(host: str, port: int) -> str:
    """The URL to open for a server bound to ``host:port``: every-interface binds are opened locally, and an IPv6
    address by the name ``localhost`` (the only way to pass the host check, see ``LOCAL_HOSTS``)."""
    name = "localhost" if ":" in host else "127.0.0.1" if host in WILDCARD_HOSTS else host
    return f"http://{name}:{port}/"


def create_app(coach: Coach, *, hosts: Sequence[str] | None = LOCAL_HOSTS) -> Flask:
    """The Flask application serving ``coach``.

    Args:
        coach: What the pages show and record.
        hosts: The Host names to answer (see :func:`trusted_hosts`); ``None`` answers any.
    """
    app = Flask("mmempathy.coach")
    app.config |= {"coach": coach, "MAX_CONTENT_LENGTH": MAX_BODY, "TRUSTED_HOSTS": list(hosts) if hosts else None}
    app.url_map.converters["id"] = RowId

    def wants_json() -> bool:
        return request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")

    def refuse(message: str, status: int):
        if wants_json():
            return jsonify(error=message), status
        return render_template_string(ERROR, error=message), status

    @app.errorhandler(InputError)
    def bad_input(err: InputError):
        if wants_json():
            return jsonify(error=str(err)), 400
        return render_template_string(HOME, coach=coach, error=str(err), kinds=KINDS), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if isinstance(err, RequestEntityTooLarge):
            return refuse(f"the request is too large: the coach takes at most {MAX_BODY // 1024} KiB", 413)
        return refuse(err.description or err.name, err.code or 500)

    @app.errorhandler(sqlite3.Error)
    def database_error(err: sqlite3.Error):
        # e.g. the file was made read-only or the disk filled up while serving: one line in the log, not a traceback
        app.logger.error("coach database %s: %s", coach.db.path, err)
        return refuse(f"the coach database cannot be used right now ({err}); nothing was saved", 503)

    @app.before_request
    def same_site_posts_only():
        """Refuse cross-site form posts (CSRF): browsers say where a POST comes from in Origin or Sec-Fetch-Site."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        origin = request.headers.get("Origin")
        if origin is not None and origin != request.host_url.rstrip("/"):
            abort(403, f"a form from another site ({origin}) cannot post to the coach; open it at {request.host_url}")
        if origin is None and request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            abort(403, f"a form from another site cannot post to the coach; open it at {request.host_url}")
        return None

    @app.get("/")
    def home():
        return render_template_string(HOME, coach=coach, error=None, kinds=KINDS)

    @app.post("/people")
    def add_person():
        return redirect(url_for("person", person_id=coach.person(request.form.get("name", ""))), code=303)

    @app.get("/p/<id:person_id>")
    def person(person_id: int):
        name = _or_404(coach.name_of, person_id)
        counts = {k: sum(i.kind == k for i in coach.library.items.values()) for k in KINDS}
        return render_template_string(
            PERSON, name=name, person_id=person_id, counts=counts, prog=coach.progress(person_id)
        )

    @app.post("/p/<id:person_id>/sessions")
    def new_session(person_id: int):
        _or_404(coach.name_of, person_id)
        kinds = tuple(k for k in request.form.getlist("kind") if k in KINDS)
        session_id = coach.start_session(person_id, _integer(request.form.get("size"), "size", 6), kinds)
        return redirect(url_for("item", session_id=session_id, position=0), code=303)

    @app.get("/s/<id:session_id>/<id:position>")
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

    @app.post("/s/<id:session_id>/<id:position>/answer")
    def answer(session_id: int, position: int):
        _or_404(coach.session, session_id)
        intensity = _integer(request.form.get("intensity"), "intensity", 2)
        coach.answer(session_id, position, request.form.get("emotion", ""), intensity)
        return redirect(url_for("item", session_id=session_id, position=position), code=303)

    @app.post("/s/<id:session_id>/<id:position>/response")
    def response(session_id: int, position: int):
        _or_404(coach.session, session_id)
        coach.respond(session_id, position, request.form.get("strategy") or None, request.form.get("text"))
        return redirect(url_for("item", session_id=session_id, position=position), code=303)

    @app.get("/p/<id:person_id>/progress")
    def progress(person_id: int):
        name = _or_404(coach.name_of, person_id)
        return render_template_string(
            PROGRESS, name=name, person_id=person_id, prog=coach.progress(person_id), labels=DEFAULT_LABELS
        )

    @app.get("/p/<id:person_id>/progress.png")
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

    @app.get("/api/progress/<id:person_id>")
    def api_progress(person_id: int):
        _or_404(coach.name_of, person_id)
        return jsonify(coach.progress(person_id))

    @app.post("/api/sessions/<id:session_id>/<id:position>/answer")
    def api_answer(session_id: int, position: int):
        _or_404(coach.session, session_id)
        body = request.get_json(force=True, silent=True)  # None when not JSON; a body over MAX_BODY is still a 413
        if not isinstance(body, dict):
            raise InputError('the body must be a JSON object, such as {"emotion": "joy", "intensity": 2}')
        intensity = _integer(body.get("intensity"), "intensity", 2)
        row = coach.answer(session_id, position, str(body.get("emotion", "")), intensity)
        item = coach.library.items[row["item_id"]]
        fb = coach.feedback(item, row)
        if fb.get("response") is not None:
            fb["response"] = fb["response"].to_dict()
        return jsonify(fb)

    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (``0``: any free port); a port in use or an unknown host is an
    :class:`InputError` (Werkzeug's own bind prints and exits instead)."""
    family = select_address_family(host, port)
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
        return socket.create_server(address, family=family, backlog=128)
    except OSError as err:  # in use, not ours to bind (below 1024), or a host name that does not resolve
        reason = os.strerror(err.errno) if err.errno and err.errno > 0 else err.strerror or str(err)
        raise InputError(f"cannot listen on {host} port {port} ({reason}): check --host and --port") from None


def make_server(app: Flask, sock: socket.socket) -> BaseWSGIServer:
    """Werkzeug's threaded server for ``app`` on ``sock`` (from :func:`listen`; ``.port`` is the port it got).

    Unlike ``app.run`` it prints no development-server banner; nothing is served until ``serve_forever()``.
    Werkzeug serves a duplicate of ``sock``: close ``sock`` once this returns.
    """
    host, port = sock.getsockname()[:2]
    return werkzeug_server(host, port, app, threaded=True, fd=sock.fileno())


def _integer(raw: Any, what: str, default: int) -> int:
    """A whole number from a form or JSON field (``default`` when absent); InputError when not one."""
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not re.fullmatch(r"-?[0-9]{1,9}", text):
        raise InputError(f"{what} must be a whole number (up to 9 digits), not {text[:20]!r}")
    return int(text)


def _or_404(fn, key):
    try:
        return fn(key)
    except KeyError:
        abort(404)
