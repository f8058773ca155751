"""`distillguard ingest`: an OTLP/HTTP trace receiver that produces contract events to Kafka."""
