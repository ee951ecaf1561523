"""Daily assessment: the day's features scored by the champion model, levels, interventions."""
