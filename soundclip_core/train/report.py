"""What a run learned, in the terms a user cares about: zero-shot accuracy on the held-out clips per label, and
which labels were taken for which (a confusion table), before training (log.json's epoch 0 row) and at the
exported epoch; and the lines the CLI prints from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

NAME_WIDTH = 24
TABLE_LABELS = 12  # up to this many labels the summary prints the whole confusion table, else the mistakes


def class_report(predicted: Sequence[int], targets: Sequence[int], classes: Sequence[str]) -> dict:
    """-> {"val_zero_shot": top-1 accuracy, "val_per_class": {label: accuracy} for the labels with held-out clips,
    "val_confusion": {true label: {predicted label: clips}} (non-zero cells only)}."""
    pairs = Counter(zip(targets, predicted, strict=True))
    totals = Counter(targets)
    per_class = {classes[k]: pairs[(k, k)] / n for k, n in sorted(totals.items())}
    confusion: dict[str, dict[str, int]] = {}
    for (true, guess), count in sorted(pairs.items()):
        confusion.setdefault(classes[true], {})[classes[guess]] = count
    correct = sum(pairs[(k, k)] for k in totals)
    return {"val_zero_shot": correct / max(1, len(targets)), "val_per_class": per_class, "val_confusion": confusion}


def best_epoch(log: Sequence[dict]) -> int | None:
    """The first trained epoch with the highest held-out accuracy (None without a held-out check)."""
    scored = [row for row in log if row["epoch"] >= 1 and row.get("val_zero_shot") is not None]
    if not scored:
        return None
    return max(scored, key=lambda row: (row["val_zero_shot"], -row["epoch"]))["epoch"]


def summary_lines(log: Sequence[dict], warnings: Sequence[str] = ()) -> list[str]:
    """The CLI's summary: warnings, per-label accuracy before and at the best epoch, and that epoch's confusion
    table (its mistakes alone beyond TABLE_LABELS labels)."""
    lines = [f"warning: {w}" for w in warnings]
    best = best_epoch(log)
    before = next((row for row in log if row["epoch"] == 0), None)
    after = next((row for row in log if row["epoch"] == best), None)
    if after is None:
        return lines
    start = "-" if before is None else f"{before['val_zero_shot']:.3f}"
    lines.append(f"held-out zero-shot accuracy: {start} before, {after['val_zero_shot']:.3f} at the best epoch "
                 f"{best} (exported)")
    lines.append(f"  {'label':<{NAME_WIDTH}} before  after")
    for label, accuracy in after["val_per_class"].items():
        old = "-" if before is None else f"{before['val_per_class'].get(label, 0.0):.2f}"
        lines.append(f"  {label[:NAME_WIDTH]:<{NAME_WIDTH}} {old:>6} {accuracy:6.2f}")
    confusion = after.get("val_confusion", {})
    labels = list(after["val_per_class"])
    if len(labels) <= TABLE_LABELS:
        lines.append("  confusion at the best epoch (rows: the clips' labels; columns: what they were taken for, "
                     "in the same order):")
        lines += [f"  {true[:NAME_WIDTH]:<{NAME_WIDTH}} " + " ".join(f"{confusion.get(true, {}).get(guess, 0):3d}"
                                                                  for guess in labels) for true in labels]
        return lines
    mistakes = [f"{true} -> {guess} x{count}" for true, row in confusion.items()
                for guess, count in row.items() if guess != true]
    lines.append("  confusions at the best epoch: " + (", ".join(mistakes) if mistakes else "none"))
    return lines
