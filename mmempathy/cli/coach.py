"""``mmempathy coach``: the empathy trainer, a local web app (Flask + SQLite).

Example:
    mmempathy coach                                  # demo clip segments, http://127.0.0.1:8000
    mmempathy coach --clips my_clips/ --data-dir ../shared/data --db coach.db
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``coach`` subcommand."""
    parser = subparsers.add_parser(
        "coach",
        help="practise reading emotions (local web app)",
        description="Start the empathy trainer on http://HOST:PORT. Items: the demo clip's segments, your labelled "
        "clips (--clips: a folder of <emotion>/<file> or a CSV path,emotion[,text]) and, with --data-dir, MELD test "
        "turns, FER2013 face stills and RAVDESS voices. Progress is kept in an SQLite file (--db).",
    )
    parser.add_argument("--clips", help="your labelled clips: a folder or a CSV (path,emotion[,text])")
    parser.add_argument("--data-dir", default=os.environ.get("MMEMPATHY_DATA"), help="public data folder (MELD, ...)")
    parser.add_argument("--db", default="coach.db", help="SQLite database file (created when missing)")
    parser.add_argument("--reset-db", action="store_true", help="set an unusable --db file aside and start anew")
    parser.add_argument("--model", default="lite", help="preset or checkpoint directory for the readings")
    parser.add_argument("--no-demo", action="store_true", help="leave the demo clip's segments out")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument(
        "--port", type=int, default=8000, help="1 to 65535; 0 picks a free port (the URL printed says which)"
    )
    parser.add_argument(
        "--trusted-host", action="append", default=[], metavar="NAME",
        help="another name browsers use to reach the coach (repeatable); requests naming any other host are refused",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the options, build the library, open the database and serve until interrupted."""
    from mmempathy.coach import require_flask
    from mmempathy.errors import InputError

    require_flask()  # before the model loads
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: a port is 1 to 65535 (or 0 for any free port)")
    db_path = Path(args.db)
    new_db = not db_path.exists()
    try:
        server = start(args)
    except BaseException:
        if new_db and db_path.is_file():  # a start that failed leaves no empty database behind
            db_path.unlink()
        raise
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def start(args: argparse.Namespace):
    """The server, listening but not yet serving (the slow model load comes after the cheap checks)."""
    from mmempathy import EmotionFuser
    from mmempathy.coach import Coach, Database, build_library, create_app, model_reader
    from mmempathy.coach.app import address, listen, make_server, trusted_hosts
    from mmempathy.errors import InputError

    db = Database(args.db, reset=args.reset_db)  # refuses a corrupt file before anything slow happens
    if db.moved_aside is not None:
        print(f"coach: {args.db} was unusable; moved to {db.moved_aside} and started a new database")
    library = build_library(args.clips, args.data_dir, demo=not args.no_demo)
    if not library.items:
        why = f" ({'; '.join(library.notes)})" if library.notes else ""
        raise InputError(f"no practice items{why}: give --clips or --data-dir, or keep the demo clip")
    for note in library.notes:
        print(f"coach: {note}")
    with listen(args.host, args.port) as sock:  # a port in use is found before the model loads
        fuser = EmotionFuser.from_pretrained(args.model, device="cpu")
        app = create_app(Coach(db, library, model_reader(fuser)), hosts=trusted_hosts(args.host, args.trusted_host))
        server = make_server(app, sock)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"coach: serving on {args.host}: anyone who can reach this address can use the trainer")
    print(f"coach: {len(library.items)} items; open {address(args.host, server.port)}", flush=True)
    return server
