"""Interventions: supportive messages for medium and above, escalations for critical."""
