from libs.common.migrate import run_env
from services.export.models import SCHEMA, Base

run_env(Base.metadata, schema=SCHEMA)
