"""``mmempathy models``: the presets, what they hold, and whether trained weights are installed."""

from __future__ import annotations

import argparse

from mmempathy import hub


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    parser = subparsers.add_parser("models", help="list the model presets")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one block per preset."""
    for name in hub.list_models():
        preset = hub.load_preset(name)
        weights = hub.packaged_weights(preset)
        if weights is not None:
            state = f"trained weights installed ({weights})"
        elif preset.get("pretrained_encoders", True):
            state = "pretrained encoders from the hub or a local copy; fusion untrained"
        else:
            state = "random weights (for tests)"
        print(f"{name}: {preset['description']}\n    {state}")
    return 0
