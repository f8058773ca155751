"""Placeholder until the decider lands: risk updates -> enforcement decisions."""

from __future__ import annotations

import logging

from sinks.metrics import Metrics
from stream.config import Settings


async def run_decider(settings: Settings, metrics: Metrics) -> None:
    logging.getLogger(__name__).warning("decider not built yet; no decisions are published")
