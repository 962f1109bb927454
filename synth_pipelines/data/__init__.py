"""Stage 2, data: load the dataset, profile it, validate it, split off the holdout.

Wiring: defs/data/assets.py (raw_dataset, dataset_profile, validated_dataset).
"""
