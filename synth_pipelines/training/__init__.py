"""Stage 3, training: fit the synthesizer the request names (SDV models, and the DP models in `dp`).

Wiring: defs/training/assets.py (trained_model).
"""
