from libs.common.auth import ApiKeyRow
from libs.common.migrate import run_env

run_env(ApiKeyRow.metadata, schema="common")
