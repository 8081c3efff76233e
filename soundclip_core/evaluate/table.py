"""The report as text tables shaped like the paper's Table 1: one row per encoder, columns per dataset."""

from __future__ import annotations

DATASET_TITLES = {"esc50": "ESC-50", "us8k": "US8K", "vggsound": "VGGSound"}
CLASSIFICATION = (("zero_shot", "top1", "ZS top-1"), ("zero_shot", "top5", "ZS top-5"), ("zero_shot", "mAP", "ZS mAP"),
                  ("linear_probe", "top1", "LR top-1"), ("linear_probe", "mAP", "LR mAP"))
RETRIEVAL = tuple((section, metric, f"{arrow} {metric}") for section, arrow in (("audio_to_text", "A->T"),
                                                                                ("text_to_audio", "T->A"))
                  for metric in ("R@1", "R@5", "R@10", "mAP", "nDCG"))


def _render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                       strict=True)))
             for row in rows]
    lines.insert(2, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def table(report: dict, columns=CLASSIFICATION) -> str:
    """Rows = encoders, columns = (dataset, metric), values in % (mean over folds); sections not run are left out."""
    datasets = [d["name"] for d in report["datasets"]]
    results = report["results"]
    first = next(iter(results.values()))
    chosen = [(d, c) for d in datasets for c in columns if c[0] in first[d]]
    header_datasets = ["encoder"] + [DATASET_TITLES.get(d, d) for d, _ in chosen]
    header_metrics = [""] + [title for _, (_, _, title) in chosen]
    rows = [header_datasets, header_metrics]
    for name, by_dataset in results.items():
        cells = [name]
        for d, (section, metric, _) in chosen:
            value = by_dataset[d][section]["mean"].get(metric)
            cells.append("-" if value is None else f"{100 * value:.1f}")
        rows.append(cells)
    return _render(rows)


def tables(report: dict) -> str:
    """Classification (Table 1) then retrieval, each with a title line."""
    return (f"Classification (%, mean over folds)\n{table(report, CLASSIFICATION)}\n\n"
            f"Retrieval (%, relevance by class, mean over folds)\n{table(report, RETRIEVAL)}")
