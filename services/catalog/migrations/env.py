from libs.common.migrate import run_env
from services.catalog.assets import models as _assets  # noqa: F401  (its tables in the metadata)
from services.catalog.db import SCHEMA, Base
from services.catalog.lineage import models as _lineage  # noqa: F401
from services.catalog.transform import models as _transform  # noqa: F401

run_env(Base.metadata, schema=SCHEMA)
