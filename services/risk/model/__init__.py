"""Risk models: the synthetic cohort, labels, the rule baseline, training and the registry."""
