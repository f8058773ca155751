"""`distillguard eval`: ours against baselines on labelled traffic, one replay, one report."""
