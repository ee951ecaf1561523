"""The risk API: assessments for clinicians, model training and versions for admins."""
