"""Bytes in, validated `Event` or `DeadLetter` out."""

from distillguard.stream.intake.parse import DeadLetter, Reason, parse_event

__all__ = ["DeadLetter", "Reason", "parse_event"]
