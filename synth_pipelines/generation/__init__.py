"""Stage 4, generation: plan chunks, sample them by seed, merge them into one hashed export.

Wiring: defs/generation/assets.py (synthetic_chunks, synthetic_export).
"""
