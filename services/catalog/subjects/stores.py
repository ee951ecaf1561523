"""The catalog's place in the erasure and portability registry: it holds no user data.

Assets are locations, schemas, sizes and counts; no user id, subject key or value of a row is
stored (the privacy classes come from a sample that is read, judged and dropped). Runs are job
names, times, asset locations and versions, and the jobs' own facets (ids of exports, times
of consent snapshots; libs/common/catalog.py says writers put no user data there).
"""

from __future__ import annotations

from libs.common.subject_rights import StoreHandler

NO_SUBJECT_DATA: tuple[str, ...] = ("catalog.assets", "catalog.runs", "catalog.run_datasets")
HANDLERS: dict[str, StoreHandler] = {}
