"""`distillguard demo`: simulator -> the same pipeline and engine -> SQLite, then a summary."""

from __future__ import annotations

from pathlib import Path

import click
import msgspec
import sqlalchemy as sa
from distillguard.models.engine import Engine
from distillguard.models.profile import AccountProfile
from distillguard.models.scoring import severity_of
from distillguard.models.topology import LocalTopology
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.migrate import upgrade
from distillguard.sinks.schema import BILLING_VIEW, alerts
from distillguard.sinks.store import RiskStore
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.progress import Progress
from distillguard.stream.simulate.generator import SimConfig, generate

DEFAULT_DB = Path("out") / "distillguard-demo.sqlite"


def run_demo(database_url: str | None, events: int, seed: int, top: int) -> None:
    if database_url is None:
        DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_DB.unlink(missing_ok=True)
        database_url = f"sqlite:///{DEFAULT_DB}"
    upgrade(database_url)
    store = RiskStore(database_url, batch_size=2000)
    accounts, stream = generate(SimConfig(events=events, seed=seed))
    persona = {a.account_id: a.persona for a in accounts}
    profiles: dict[str, AccountProfile] = {}
    dead: ListSink = ListSink()
    engine = Engine(profiles)
    pipeline = Pipeline(engine, Metrics(), dead, store, topology=LocalTopology(engine))
    encode = msgspec.json.Encoder().encode
    meter = Progress("demo: simulate and score", total=sum(a.n_events for a in accounts))
    for i, event in enumerate(stream):
        pipeline.handle(encode(event), {"simulator": "demo", "n": i})
        meter.advance()
    pipeline.finish(list(profiles))
    store.close()
    seconds = meter.finish()
    attackers = {a.account_id for a in accounts if a.attack}
    _summary(database_url, profiles, persona, attackers, meter.done, seconds, top)


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _summary(url: str, profiles: dict[str, AccountProfile], persona: dict[str, str],
             attackers: set[str],
             n_events: int, seconds: float, top: int) -> None:
    flagged = {a for a, p in profiles.items() if p.first_alert_ts is not None}
    click.echo(f"\nScored {n_events} events of {len(profiles)} accounts in {seconds:.1f}s.")
    click.echo(f"Alerted on {len(flagged & attackers)} of {len(attackers)} simulated attackers "
               f"and {len(flagged - attackers)} of {len(profiles) - len(attackers)} benign "
               "accounts.\n")
    click.echo("Riskiest account of each simulated persona (attacks first):")
    click.echo(f"  {'simulated as':<20} {'account':<16} {'risk':>5}  {'severity':<8} top reason")
    best: dict[str, AccountProfile] = {}
    for p in profiles.values():
        name = persona[p.account_id]
        if name not in best or p.risk > best[name].risk:
            best[name] = p
    for name, p in sorted(best.items(), key=lambda kv: (kv[1].account_id not in attackers,
                                                         -kv[1].risk)):
        sev = severity_of(p.risk)
        reason = _short(p.reasons[0]) if p.reasons else "-"
        click.echo(f"  {name:<20} {p.account_id:<16} {p.risk:5.1f}  {sev:<8} {reason}")
    click.echo(f"\n{sum(1 for p in profiles.values() if p.risk >= 80)} accounts at risk >= 80 "
               "(high or critical); every account, its reasons and alerts are in the store.")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n_alerts = conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar_one()
        n_rows = conn.execute(sa.text(f"SELECT count(*) FROM {BILLING_VIEW}")).scalar_one()
    engine.dispose()
    where = url.removeprefix("sqlite:///")
    click.echo(f"\nStore: {where} ({n_rows} accounts in view {BILLING_VIEW}, {n_alerts} alerts).")
    click.echo(f"Try:  sqlite3 {where} 'SELECT * FROM {BILLING_VIEW} ORDER BY risk DESC "
               f"LIMIT {top}'")
