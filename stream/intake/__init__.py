"""Bytes in, validated `Event`s (or `DeadLetter`s) out, by the input's declared format."""

from distillguard.stream.intake.formats import Decoded, Format, decode_message, parse_format
from distillguard.stream.intake.parse import DeadLetter, Reason, parse_event

__all__ = ["DeadLetter", "Decoded", "Format", "Reason", "decode_message", "parse_event", "parse_format"]
