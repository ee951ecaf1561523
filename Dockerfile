# One image for every MindLake process: the ingest API (default CMD), Celery workers, beat and
# the `mindlake` CLI (migrations, keys). docker-compose.yml picks the command per service.
FROM python:3.11-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a source change does not reinstall them: the package folders are
# stubbed, installed (editable), then replaced by the real source below.
COPY pyproject.toml README.md ./
RUN mkdir -p libs services \
    && touch libs/__init__.py services/__init__.py \
    && pip install -e .

# Editable on purpose: each service's Alembic folder (migrations/, not a Python package) is
# found next to its code, which a wheel install would leave behind.
COPY libs ./libs
COPY services ./services

RUN useradd --create-home --uid 10001 mindlake \
    && mkdir -p /tmp/prometheus && chown mindlake /tmp/prometheus
USER mindlake

EXPOSE 8000 9400
CMD ["uvicorn", "services.ingest.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]

# The embedding service's image (`--target embedding`): the light image plus PyTorch CPU and
# the local model, kept apart so the other services do not carry several hundred MB of torch.
FROM app AS embedding
USER root
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -e '.[embedding]'
ENV HF_HUB_OFFLINE=1
USER mindlake
CMD ["uvicorn", "services.embedding.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]
