"""The risk service: daily risk assessment as decision support for clinicians, not diagnosis."""
