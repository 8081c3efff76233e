"""Evaluating audio encoders as the paper's Table 1 does: zero-shot classification, linear probe, retrieval.

`run_evaluation` takes planned datasets (`plan`) and encoder/CLIP pairs (`pair_models`) and returns a
JSON-ready report; `tables` prints it. Each clip is decoded and embedded once per encoder (`embed_clips`).
"""

from .embed import ClipEmbeddings, embed_clips
from .metrics import average_precisions, mean_average_precision, ndcg, retrieval_metrics, topk_accuracy
from .probe import choose_l2, fit_logistic, linear_probe
from .protocol import PROTOCOL_FOLDS, Plan, plan, stratified_folds
from .run import ModelPair, evaluate_pair, pair_models, run_evaluation
from .table import table, tables
from .zeroshot import DEFAULT_TEMPLATES, check_templates, class_embeddings, class_scores, classify

__all__ = ["DEFAULT_TEMPLATES", "PROTOCOL_FOLDS", "ClipEmbeddings", "ModelPair", "Plan", "average_precisions",
           "check_templates", "choose_l2", "class_embeddings", "class_scores", "classify", "embed_clips",
           "evaluate_pair", "fit_logistic", "linear_probe", "mean_average_precision", "ndcg", "pair_models", "plan",
           "retrieval_metrics", "run_evaluation", "stratified_folds", "table", "tables", "topk_accuracy"]
