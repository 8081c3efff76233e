"""Loss weights from the paper, by domain (Lee et al. 2022, section 4 and the official README)."""

PRESETS: dict[str, dict[str, float]] = {
    "landscape": {"lam_sim": 0.002, "lam_id": 0.0},
    "lsun": {"lam_sim": 0.002, "lam_id": 0.0},
    "wikiart": {"lam_sim": 0.002, "lam_id": 0.0},
    "ffhq": {"lam_sim": 0.008, "lam_id": 0.004},
    "custom": {"lam_sim": 0.0, "lam_id": 0.0},
}
