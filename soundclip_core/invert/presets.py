"""Inversion settings by preset: "fast" (100 steps) for a first look, "best" (1000 steps, noise maps too) for the
closest reconstruction.

What "fast" costs, measured at 256 px (config-f generator, VGG16): a step takes about 1 s on a quiet AVX-512
Xeon (so 100 steps about 2 minutes) and 1.5-7.6 s (median 6.2 s) on 2 shared cores of a loaded Xeon VM
(about 10 minutes); a 1024 px generator costs several times more. On a CPU it is minutes, not seconds.

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
