from libs.common.migrate import run_env
from services.catalog.assets import models as _assets  # noqa: F401  (its tables in the metadata)
from services.catalog.db import SCHEMA, Base

run_env(Base.metadata, schema=SCHEMA)
