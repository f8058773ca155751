"""Batches straight from Faust's consumer: the worker's keyed stages take whole fetched chunks
of their topics instead of one Message -> Event -> Stream per record (Faust's per-event
machinery cost ~100 us an event; this path ~10 us, near a bare aiokafka loop), while Faust keeps
the consumer group, rebalances, commits, tables and recovery.

- `consumer.py`: Faust's aiokafka Consumer, whose fetch loop hands records of batch topics to
  their stage's `BatchSink` (other topics, changelogs among them, go Faust's usual way);
- `sink.py`: the bounded hand-off; a stage acks a batch by offset range into Faust's own ack
  bookkeeping only after its state and outputs are flushed (at-least-once).

Pinned to faust-streaming 0.15.3 and aiokafka 0.14.0 internals (pyproject.toml pins both); the
restart, two-worker and group-stage tests on the real broker exercise every path.
"""
