"""Linear probe: multinomial logistic regression on frozen embeddings (the README's "Logistic Regression" row).

Fitted with full-batch L-BFGS on cross-entropy + l2 * ||W||^2 (the bias is not penalised). The penalty is
chosen on the training data only: leave-one-group-out over (up to INNER_FOLDS of) the training folds, each
candidate warm-started from the previous, stronger one; the best mean validation accuracy wins (ties: the
stronger penalty), then the probe is refitted on all training folds with it. The problems are small (ESC-50:
1600 x 512 -> 50) and L-BFGS makes many tiny steps, so the probe runs on one torch thread: a thread pool's
waits cost more than they save (a 1600 x 512 fit: 1.4 s on one thread, 27 s on two, on the busy 2-core CPU here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metrics import class_average_precisions, macro_average_precision, mean_average_precision, topk_accuracy

L2_GRID = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # strongest first, for warm starts
INNER_FOLDS = 3
MAX_ITER = 100


@dataclass(frozen=True)
class Probe:
    weight: torch.Tensor  # [D, K]
    bias: torch.Tensor  # [K]
    l2: float

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """[N, D] -> [N, K]."""
        return x.float() @ self.weight + self.bias


def fit_logistic(x: torch.Tensor, y: torch.Tensor, classes: int, l2: float, init: Probe | None = None,
                 max_iter: int = MAX_ITER) -> Probe:
    """Minimise mean cross-entropy(x W + b, y) + l2 ||W||^2 over W [D, K], b [K]; x [N, D], y [N] class indices,
    or y [N, K] bool (multi-label: one-vs-rest, the binary cross-entropies summed over classes, mean over clips)."""
    multi_label = y.ndim == 2
    with torch.inference_mode(False), torch.enable_grad():
        x = x.detach().float().clone()  # inference-mode tensors cannot be saved
        y = y.detach().float().clone() if multi_label else y.detach().long().clone()
        weight = torch.zeros(x.shape[1], classes) if init is None else init.weight.clone()
        bias = torch.zeros(classes) if init is None else init.bias.clone()
        weight.requires_grad_(True)
        bias.requires_grad_(True)
        optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                      tolerance_grad=1e-5, tolerance_change=1e-9, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            logits = x @ weight + bias
            fit = (F.binary_cross_entropy_with_logits(logits, y, reduction="sum") / len(y) if multi_label
                   else F.cross_entropy(logits, y))
            loss = fit + l2 * weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
    return Probe(weight.detach(), bias.detach(), l2)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run the enclosed torch ops on one intra-op thread (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _inner_groups(y: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Validation groups for choosing the penalty: the training folds, or (one fold only) every clip's rank
    within its class modulo INNER_FOLDS, a deterministic stratified split."""
    if len(groups.unique()) >= 2:
        return groups
    rank = torch.zeros_like(y)
    for label in y.unique():
        members = (y == label).nonzero().flatten()
        rank[members] = torch.arange(len(members))
    return rank % INNER_FOLDS


def choose_l2(x: torch.Tensor, y: torch.Tensor, groups: torch.Tensor, classes: int) -> float:
    """The penalty in L2_GRID with the best mean validation accuracy over held-out training groups."""
    groups = _inner_groups(y, groups)
    held = groups.unique()[:INNER_FOLDS]
    accuracy = torch.zeros(len(L2_GRID))
    for group in held:
        train, val = groups != group, groups == group
        previous = None
        for i, l2 in enumerate(L2_GRID):
            previous = fit_logistic(x[train], y[train], classes, l2, init=previous)
            accuracy[i] += topk_accuracy(previous.logits(x[val]), y[val], 1) / len(held)
    return L2_GRID[int(torch.argmax(accuracy))]  # argmax takes the first maximum: the strongest penalty


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, train_groups: torch.Tensor, test_x: torch.Tensor,
                 test_y: torch.Tensor, classes: int) -> dict:
    """Fit on the training folds (penalty chosen on them), score the held-out fold: top-1/5 accuracy, mAP of
    the predicted class probabilities."""
    with single_thread():
        l2 = choose_l2(train_x, train_y, train_groups, classes)
        probe = fit_logistic(train_x, train_y, classes, l2)
    probabilities = probe.logits(test_x).softmax(-1)
    return {"top1": topk_accuracy(probabilities, test_y, 1), "top5": topk_accuracy(probabilities, test_y, 5),
            "mAP": mean_average_precision(probabilities, test_y), "l2": l2, "clips": int(len(test_y))}


def multi_label_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                      ) -> dict:
    """One-vs-rest logistic regression for multi-label data (AudioSet): targets [N, K] bool. The penalty is chosen
    by the mAP of every INNER_FOLDS-th training clip held out (a deterministic split), then the probe is refitted
    on all training clips; scored by the macro mAP of its sigmoid outputs and per-class AP (NaN: no positives)."""
    classes = train_y.shape[1]
    held = torch.arange(len(train_y)) % INNER_FOLDS == 0
    with single_thread():
        scores, previous = [], None
        for l2 in L2_GRID:
            previous = fit_logistic(train_x[~held], train_y[~held], classes, l2, init=previous)
            scores.append(macro_average_precision(previous.logits(train_x[held]), train_y[held]))
        valid = [s if s == s else -1.0 for s in scores]  # NaN (no positives held out) never wins
        l2 = L2_GRID[max(range(len(valid)), key=lambda i: (valid[i], -i))]
        probe = fit_logistic(train_x, train_y, classes, l2)
    probabilities = probe.logits(test_x).sigmoid()
    return {"mAP": macro_average_precision(probabilities, test_y), "l2": l2, "clips": int(len(test_y)),
            "per_class_AP": class_average_precisions(probabilities, test_y).tolist()}
