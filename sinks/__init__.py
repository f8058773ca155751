"""Outputs: PostgreSQL/SQLite store, Prometheus metrics, Kafka topics, files. Sinks never decide."""
