"""Export service: training data and reports from the lake."""
