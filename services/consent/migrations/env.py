from libs.common.migrate import run_env
from services.consent.db import SCHEMA, Base
from services.consent.ledger import models  # noqa: F401  (its tables in the metadata)

run_env(Base.metadata, schema=SCHEMA)
