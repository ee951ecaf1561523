from tests.catalog.support import catalog_env  # noqa: F401  (the fixture)
