"""Model monitoring: feature drift and score shift, as gauges and webhook alerts."""
