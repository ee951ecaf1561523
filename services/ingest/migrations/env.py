from libs.common.migrate import run_env
from services.ingest.csv_upload import models as _csv_upload_models  # noqa: F401
from services.ingest.db import SCHEMA, Base
from services.ingest.deadletters import models as _dead_letter_models  # noqa: F401
from services.ingest.outbox import models as _outbox_models  # noqa: F401
from services.ingest.pull import models as _pull_models  # noqa: F401
from services.ingest.quality import models as _quality_models  # noqa: F401

run_env(Base.metadata, schema=SCHEMA)
