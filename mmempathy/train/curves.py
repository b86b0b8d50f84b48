"""A run's learning curves: loss and validation metrics per epoch, as a PNG."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict[str, float]], path: str | Path, *, metric: str = "f1_weighted") -> Path:
    """Loss (train and validation) and validation metrics per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    if "val_loss" in history[0]:
        left.plot(epochs, [r.get("val_loss", float("nan")) for r in history], "o-", label="validation")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    left.legend()
    names = [k for k in history[-1] if k.startswith("val_") and k != "val_loss"]
    for name in names:
        right.plot(
            epochs, [r.get(name, float("nan")) for r in history], "o-", label=name[4:], lw=2 if metric in name else 1
        )
    right.set(xlabel="epoch", title="validation metrics")
    if names:
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
