"""The risk and triage HTTP API (`distillguard api`): its own process, reading PostgreSQL."""

from distillguard.stream.api.app import create_app

__all__ = ["create_app"]
