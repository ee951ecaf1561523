"""What text is embedded, and how it is cut into chunks the model can take."""
