from libs.common.migrate import run_env
from services.export.db import SCHEMA, Base
from services.export.jobs import models as _jobs  # noqa: F401  (its tables in the metadata)
from services.export.lineage import models as _lineage  # noqa: F401

run_env(Base.metadata, schema=SCHEMA)
