"""The report as text tables shaped like the paper's Table 1: one row per encoder, columns per dataset."""

from __future__ import annotations

DATASET_TITLES = {"esc50": "ESC-50", "us8k": "US8K", "vggsound": "VGGSound", "audioset": "AudioSet"}
EVALUATIONS = (("zero_shot", "zero-shot"), ("linear_probe", "linear probe"))
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
    """Rows = encoders, columns = (dataset, metric), values in % (mean over folds); sections not run and metrics
    a dataset does not have (AudioSet: no accuracy) are left out."""
    datasets = [d["name"] for d in report["datasets"]]
    results = report["results"]
    first = next(iter(results.values()))
    chosen = [(d, c) for d in datasets for c in columns if c[0] in first[d] and c[1] in first[d][c[0]]["mean"]]
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
    """Classification (Table 1), retrieval, then the supplement's datasets x encoders shape, each titled."""
    return (f"Classification (%, mean over folds)\n{table(report, CLASSIFICATION)}\n\n"
            f"Retrieval (%, relevance by class, mean over folds)\n{table(report, RETRIEVAL)}\n\n"
            f"Table 1, supplement shape (%: datasets x encoders, each with the CLIP of its space)\n"
            f"{supplement_table(report)}")


def supplement_table(report: dict) -> str:
    """The supplement's shape of Table 1: rows = dataset x evaluation (zero-shot, linear probe when run), columns =
    encoder x (accuracy, mAP), in % (mean over folds). A multi-label dataset (AudioSet) has mAP only."""
    names = list(report["results"])
    rows = [["dataset", *[n for n in names for _ in (0, 1)]], ["", *["acc", "mAP"] * len(names)]]
    for dataset in report["datasets"]:
        key = dataset["name"]
        for section, title in EVALUATIONS:
            if section not in report["results"][names[0]][key]:
                continue
            cells = [f"{DATASET_TITLES.get(dataset['kind'], key)} {title}"]
            for name in names:
                mean = report["results"][name][key][section]["mean"]
                cells += ["-" if mean.get(m) is None else f"{100 * mean[m]:.1f}" for m in ("top1", "mAP")]
            rows.append(cells)
    return _render(rows)


def per_class_table(report: dict, key: str) -> str:
    """Per-class AP (%) of one multi-label dataset, one row per class with positives (index order), a column per
    encoder and evaluation; the first fold's numbers (AudioSet's eval set is one)."""
    dataset = next(d for d in report["datasets"] if d["name"] == key)
    columns = [(name, section) for name in report["results"] for section, _ in EVALUATIONS
               if section in report["results"][name][key]]
    values = [next(iter(report["results"][n][key][s]["folds"].values()))["per_class_AP"] for n, s in columns]
    rows = [["class", *[f"{n} {'ZS' if s == 'zero_shot' else 'LR'}" for n, s in columns]], ["", *["AP"] * len(columns)]]
    for index, name in enumerate(dataset["classes"]):
        if values and values[0][index] is not None and values[0][index] == values[0][index]:
            rows.append([name, *[f"{100 * v[index]:.1f}" for v in values]])
    return _render(rows)
