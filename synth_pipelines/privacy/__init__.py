"""Differential privacy's accounting and public domain: what ε and δ mean, what is spent, what is public.

- `budget`: the request's (ε, δ) rules, δ from the schema's declared `num_rows`, ρ for zCDP mechanisms;
- `ledger`: every training attempt's charge against its dataset's cap, one transaction each;
- `domain`: the public domain read from the request's `schema` (kinds, bins, slots, category lists,
  generated columns) and the keyed row hashes that place a row without revealing it.

The DP models themselves are training code (`synth_pipelines.training.dp`). The threat model is
docs/privacy.md.
"""
