"""Differential privacy for `dp` roles: the plan (bounds, contributions, sensitivity),
the mechanisms (diffprivlib), the release of noisy answers, and the budget ledger."""
