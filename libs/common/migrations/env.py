from libs.common.audit import AuditOutboxRow  # noqa: F401  (its table in the metadata)
from libs.common.auth import ApiKeyRow
from libs.common.migrate import run_env

run_env(ApiKeyRow.metadata, schema="common")
