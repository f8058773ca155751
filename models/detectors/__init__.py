"""Detectors: rules that name a behaviour, and online learners that compare accounts to peers.

A detector follows river's protocol: `learn_one(x)` and `score_one(x) -> float`, high meaning
anomalous. Rules are stateless and return `Reason`s directly.
"""
