"""Runtime: configuration, intake, Kafka/Faust worker, file replay, simulator and CLI."""
