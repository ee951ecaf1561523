from libs.common.migrate import run_env
from services.risk import models as _models  # noqa: F401  (its tables in the metadata)
from services.risk.db import SCHEMA, Base

run_env(Base.metadata, schema=SCHEMA)
