"""The seen-events changelog: the engine's event-id de-duplication (models/seen_events.py),
durable and outside the profile record.

Append-only: once per batch, one record per (event-time bucket, account) holding the ids first
seen in that batch, key `[bucket, account, first id]` (unique, so a re-send after a crash
replaces itself), on the account's partition. The topic deletes by time
(`retention = window + a day`) instead of compacting; recovery re-learns every record into the
engine's `SeenEvents` (Faust replays the table's changelog partitions as for any table).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import faust
import msgspec
from distillguard.models.seen_events import SeenEvents

_encode = msgspec.msgpack.Encoder().encode
_key = msgspec.msgpack.Decoder(tuple[int, str, str]).decode
_ids = msgspec.msgpack.Decoder(list[str]).decode


class SeenTable(faust.Table):
    """A Faust table used only for its changelog: recovery feeds `seen`, not a store."""

    seen: SeenEvents

    def apply_changelog_batch(self, batch) -> None:
        for event in batch:
            message = event.message
            if message.value is None:
                continue
            bucket, account_id, _ = _key(message.key)
            self.seen.load(bucket, account_id, _ids(message.value))


def seen_table(app: faust.App, seen: SeenEvents, partitions: int) -> tuple[SeenTable, str]:
    topic = f"{app.conf.id}-seen-events-changelog"
    table = SeenTable(app, name="seen-events", default=None, partitions=partitions,
                      changelog_topic=app.topic(
                          topic, partitions=partitions, compacting=False, deleting=True,
                          retention=timedelta(seconds=seen.window_s + 86400), internal=True,
                          key_serializer="raw", value_serializer="raw"),
                      key_type=bytes, value_type=bytes, use_partitioner=True)
    table.key_serializer = table.value_serializer = "raw"
    table.seen = seen
    app.tables.add(table)
    return table, topic


def seen_records(seen: SeenEvents, partition_of: Callable[[bytes], int],
                 ) -> list[tuple[bytes, bytes, int]]:
    """What the engine learned since the last batch, as changelog records."""
    return [(_encode((bucket, account_id, ids[0])), _encode(ids), partition_of(account_id.encode()))
            for (bucket, account_id), ids in seen.drain().items()]
