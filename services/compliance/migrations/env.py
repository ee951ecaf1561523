from libs.common.migrate import run_env
from services.compliance.audit import models as audit_models  # noqa: F401 - registers its tables
from services.compliance.db import SCHEMA, Base
from services.compliance.retention import models as retention_models  # noqa: F401 - registers its tables

run_env(Base.metadata, schema=SCHEMA)
