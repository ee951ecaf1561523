"""The embedding Celery app: `celery -A services.embedding.worker worker -Q embedding`.

The local model is loaded in the process that encodes, after torch's threads are set
(services/embedding/backends/local.py), so a prefork pool is safe; `--pool solo` or
`--concurrency 1` keeps one model in memory per worker.
"""

from __future__ import annotations

from libs.common.celery_app import create_celery
from services.embedding.config import get_embedding_settings

settings = get_embedding_settings()
celery_app = create_celery(
    "mindlake-embedding",
    settings,
    imports=(
        "services.embedding.sync.tasks",
        "services.embedding.backup.tasks",
        "services.embedding.subjects.tasks",
        "services.embedding.sync.consent_tasks",
        "services.embedding.personas.tasks",
    ),
)
