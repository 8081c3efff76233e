"""Inversion settings by preset: "fast" for a preview in seconds, "best" for the closest reconstruction.

Both start as NVIDIA's projector does (mean latent, VGG16-LPIPS, lr ramps, w noise ramp) in W, then
refine in W+ with a penalty that keeps every layer near the W solution (a latent far outside W
reconstructs but edits badly). "best" also optimises the noise maps, regularised as NVIDIA does.
"""

PRESETS: dict[str, dict] = {
    "fast": {"steps": 100, "w_fraction": 0.7, "lr": 0.1, "lr_plus": 0.02, "pixel_weight": 0.1,
             "closeness": 0.1, "optimize_noise": False, "noise_reg": 1e5},
    "best": {"steps": 1000, "w_fraction": 0.75, "lr": 0.1, "lr_plus": 0.01, "pixel_weight": 0.1,
             "closeness": 0.05, "optimize_noise": True, "noise_reg": 1e5},
}
