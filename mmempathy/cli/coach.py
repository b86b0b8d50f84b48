"""``mmempathy coach``: the empathy trainer, a local web app (Flask + SQLite).

Example:
    mmempathy coach                                  # demo clip segments, http://127.0.0.1:8000
    mmempathy coach --clips my_clips/ --data-dir ../shared/data --db coach.db
"""

from __future__ import annotations

import argparse
import os


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
    parser.add_argument("--port", type=int, default=8000)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the library, open the database and serve until interrupted."""
    from mmempathy import EmotionFuser
    from mmempathy.coach import Coach, Database, build_library, create_app, model_reader
    from mmempathy.errors import InputError

    db = Database(args.db, reset=args.reset_db)  # refuses a corrupt file before anything slow happens
    if db.moved_aside is not None:
        print(f"coach: {args.db} was unusable; moved to {db.moved_aside} and started a new database")
    library = build_library(args.clips, args.data_dir, demo=not args.no_demo)
    if not library.items:
        raise InputError("no practice items: give --clips or --data-dir, or keep the demo clip")
    for note in library.notes:
        print(f"coach: {note}")
    fuser = EmotionFuser.from_pretrained(args.model, device="cpu")
    app = create_app(Coach(db, library, model_reader(fuser)))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"coach: serving on {args.host}: anyone who can reach this address can use the trainer")
    print(f"coach: {len(library.items)} items; open http://{args.host}:{args.port}/", flush=True)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0
