from libs.common.migrate import run_env
from services.embedding.db import SCHEMA, Base
from services.embedding.personas import models as _personas  # noqa: F401  (its tables)
from services.embedding.sync import models as _sync  # noqa: F401  (its tables in the metadata)

run_env(Base.metadata, schema=SCHEMA)
