"""Loss weights by domain, each from a named source (Lee et al. 2022, section 4; the official code and README).

The lambdas multiply sum_l g_l ||w_l - w_s,l||^2. The official README's command runs without
--adaptive_layer_masking (off by default), i.e. with g = 1 on every layer, so the published lambdas go
with that unmasked sum. The default mask keeps the weights averaging 1 (mask.py): the same lambdas hold
for it unchanged (checked again with the bounded mask, no value changed); "official" is the official
code's own mask, which takes the same lambda arguments.
The learning rate is not part of a preset: optimize() defaults to 0.1, the official README's command
(run_optimization.py's own default is 0.05).
"""

PRESETS: dict[str, dict[str, float]] = {
    # official README: --lambda_similarity 0.002 --lambda_identity 0.0 --lr 0.1 with landscape.pt (256 px)
    "landscape": {"lam_sim": 0.002, "lam_id": 0.0},
    # the paper's LSUN setting: lambda_sim 0.002, lambda_ID 0
    "lsun": {"lam_sim": 0.002, "lam_id": 0.0},
    # not in the paper or the official code: paintings are scenes, so the LSUN values
    "wikiart": {"lam_sim": 0.002, "lam_id": 0.0},
    # the paper's FFHQ setting: lambda_sim 0.008, lambda_ID 0.004 (run_optimization.py's defaults are 0.008 and
    # 0.005; the paper's published numbers win)
    "ffhq": {"lam_sim": 0.008, "lam_id": 0.004},
    # no closeness and no identity term: the user sets lam_sim / lam_id
    "custom": {"lam_sim": 0.0, "lam_id": 0.0},
}
