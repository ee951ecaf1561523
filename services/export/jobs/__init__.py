"""Training-data export jobs: their API, the runner that runs one, the CLI, the tasks."""
