"""`log()` and `log_batch()`, shared by both loggers: encode, then append to the buffer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mindlake_client.buffer import EntryBuffer
from mindlake_client.config import ClientConfig
from mindlake_client.encoding import encode_entry
from mindlake_client.entries import LogEntry
from mindlake_client.errors import EntryTooLarge, InvalidEntry, LoggerClosed

Entry = LogEntry | Mapping[str, Any]


class Intake:
    config: ClientConfig
    buffer: EntryBuffer
    _closed: bool = False

    def log(self, entry: Entry) -> str:
        """Buffer one entry and return its `event_id`. Never waits for the network.

        Raises `EntryTooLarge` or `InvalidEntry` (the entry is not buffered) and
        `LoggerClosed` after `shutdown()`.
        """
        if self._closed:
            raise LoggerClosed("the logger is shut down")
        try:
            event_id, raw = encode_entry(entry, self.config.max_entry_bytes)
        except InvalidEntry:
            self.buffer.count_invalid(1)
            raise
        self.buffer.append([raw])
        return event_id

    def log_batch(self, entries: Iterable[Entry]) -> list[str | None]:
        """Buffer many entries; returns their event ids in order.

        Entries that cannot be sent are skipped and, once the others are buffered, reported
        by one `InvalidEntry` (`EntryTooLarge` if they are all too large) with their
        `indexes`.
        """
        if self._closed:
            raise LoggerClosed("the logger is shut down")
        ids: list[str | None] = []
        raws: list[bytes] = []
        refused: list[tuple[int, InvalidEntry]] = []
        for index, entry in enumerate(entries):
            try:
                event_id, raw = encode_entry(entry, self.config.max_entry_bytes)
            except InvalidEntry as exc:
                refused.append((index, exc))
                ids.append(None)
                continue
            ids.append(event_id)
            raws.append(raw)
        self.buffer.append(raws)
        if refused:
            self.buffer.count_invalid(len(refused))
            indexes = [index for index, _ in refused]
            all_too_large = all(isinstance(e, EntryTooLarge) for _, e in refused)
            kind = EntryTooLarge if all_too_large else InvalidEntry
            raise kind(
                f"{len(refused)} of {len(ids)} entries were not buffered (indexes {indexes[:20]}); "
                f"the first: {refused[0][1]}",
                indexes,
            )
        return ids
