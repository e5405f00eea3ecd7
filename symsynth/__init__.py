"""symsynth: Symmetrical Synthesis (Gu & Ko, AAAI 2020) for deep metric learning.

The core is pure PyTorch/NumPy: synthesis, mining, losses, samplers, models, data, metrics,
the training loop and the command line. ``symsynth.viz`` builds plotly figures from it.
"""

__version__ = "0.1.0"
