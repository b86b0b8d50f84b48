"""``mmempathy coach``: a local web app where people practise reading emotions in others.

A person practises in sessions of items (demo clip segments, their own clips, face stills, voices,
MELD dialogue turns), names the emotion and its intensity, sees the truth and the recogniser's
readings per channel with the fusion gate's weights, and picks or writes a response that is
compared with :mod:`mmempathy.respond`. Progress lives in SQLite (``coach.db``).

Example:
    >>> from mmempathy.coach import Coach, Database, build_library, create_app  # doctest: +SKIP
    >>> coach = Coach(Database("coach.db"), build_library(), reader)  # doctest: +SKIP
    >>> create_app(coach).run(host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from mmempathy.coach.db import Database, DatabaseError
from mmempathy.coach.items import Item, Library, build_library, model_reader
from mmempathy.coach.practice import Coach, guess_strategy, schedule
from mmempathy.extras import needs


def require_flask() -> None:
    """Raise :class:`~mmempathy.extras.MissingPackageError` naming the ``coach`` extra when Flask is missing
    (called before anything slow, such as loading the model)."""
    with needs("the coach"):
        import flask  # noqa: F401


def create_app(coach: Coach, **kwargs):
    """The Flask app for ``coach`` (Flask is imported only here: the ``coach`` extra); ``kwargs`` as in
    :func:`mmempathy.coach.app.create_app`."""
    require_flask()
    from mmempathy.coach.app import create_app as _create

    return _create(coach, **kwargs)


__all__ = [
    "Coach",
    "Database",
    "DatabaseError",
    "Item",
    "Library",
    "build_library",
    "create_app",
    "guess_strategy",
    "model_reader",
    "require_flask",
    "schedule",
]
