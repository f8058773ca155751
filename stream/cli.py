"""`distillguard` command line. Each command is thin wiring around stream/, models/ and sinks/.

Settings come from DISTILLGUARD_* environment variables; flags override them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from distillguard.stream.config import ConfigError, Settings


def _settings(**overrides) -> Settings:
    try:
        return Settings.load(**overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Detect model distillation and extraction attacks in LLM API access logs."""


@main.command()
@click.option("--broker", help="Kafka bootstrap servers [DISTILLGUARD_BROKER].")
@click.option("--input-topic", help="Topic of access-log events [DISTILLGUARD_INPUT_TOPIC].")
@click.option("--database-url", help="Store for risk and alerts [DISTILLGUARD_DATABASE_URL].")
@click.option("--metrics-port", type=int, help="Prometheus port, 0=off [DISTILLGUARD_METRICS_PORT].")
@click.option("--web-port", type=int, help="Faust web port [DISTILLGUARD_WEB_PORT].")
@click.option("--data-dir", help="Faust local state dir [DISTILLGUARD_DATA_DIR].")
@click.option("--partitions", type=int, help="Partitions of created topics [DISTILLGUARD_PARTITIONS].")
@click.option("--no-sink", "no_sink", is_flag=True, default=None,
              help="Do not write to the database from this worker.")
def run(no_sink, **opts) -> None:
    """The Kafka worker: consume events, score accounts, publish risk and alerts, persist them."""
    from distillguard.stream.worker import run_worker

    settings = _settings(**opts, sink_enabled=False if no_sink else None)
    from distillguard.sinks.webhooks import parse_webhooks

    try:  # a bad webhook URL is a usage error now, not a crash seconds after start-up
        parse_webhooks(settings.webhook_urls, settings.webhook_slack_urls)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    run_worker(settings)


@main.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV to write: account_id,risk,first_alert_at,reasons.")
@click.option("--dlq", type=click.Path(dir_okay=False, path_type=Path),
              help="Dead-letter file [default: EVENTS.dlq.jsonl beside the input].")
@click.option("--quiet", is_flag=True, help="No progress output.")
def score(events: Path, out: Path, dlq: Path | None, quiet: bool) -> None:
    """Replay a JSONL file of contract events through the engine; one CSV row per account."""
    from distillguard.sinks.base import ListSink
    from distillguard.sinks.files import write_scores_csv
    from distillguard.stream.intake import Reason
    from distillguard.stream.replay import dead_letter_path_for, replay_file

    dlq = dlq or dead_letter_path_for(events, out.resolve().parent)
    result = replay_file(events, ListSink(), dlq, _engine_config(), progress=not quiet)
    write_scores_csv(out, list(result.profiles.values()))
    value = result.metrics.registry.get_sample_value
    bad = sum(value("distillguard_events_dead_lettered_total", {"reason": r.value}) or 0
              for r in Reason)
    consumed = value("distillguard_events_consumed_total")
    click.echo(f"scored {value('distillguard_events_scored_total'):.0f} events of "
               f"{len(result.profiles)} accounts in {result.seconds:.1f}s "
               f"({consumed / result.seconds:,.0f} events/s); "
               f"{value('distillguard_events_duplicate_total'):.0f} duplicates, {bad:.0f} dead letters"
               + (f" -> {result.dead_letter_path}" if result.dead_letter_path else "")
               + f"; wrote {out}", err=True)


def _engine_config():
    from distillguard.models.engine import EngineConfig

    s = _settings()
    return EngineConfig(score_every=s.score_every, score_interval_s=s.score_interval_s)


def _corpus_option(fn):
    """--corpus DIR: prompt text from JSONL corpora (read at run time), real-text personas."""
    return click.option(
        "--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Folder of JSONL prompt corpora (fields text/prompt/instruction/question/...): "
             "real-text personas; default: built-in vocabulary.")(fn)


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL file to write (labels go to OUT.labels.csv).")
@click.option("--kafka", "to_kafka", is_flag=True, help="Produce to the input topic instead.")
@click.option("--broker", help="Kafka bootstrap servers [DISTILLGUARD_BROKER].")
@click.option("--topic", help="Topic to produce to [DISTILLGUARD_INPUT_TOPIC].")
@click.option("--no-key", is_flag=True, help="Produce without message keys (tests re-keying).")
@click.option("--events", type=int, default=20_000, show_default=True, help="About this many.")
@click.option("--accounts", type=int, default=60, show_default=True)
@click.option("--attack-share", type=float, default=0.15, show_default=True)
@click.option("--hydra", "hydra_size", type=int, default=30, show_default=True,
              help="Accounts in one hydra campaign (0 = none).")
@click.option("--hours", type=float, default=24.0, show_default=True, help="Event-time span.")
@click.option("--rate", type=float, help="Events per second (wall clock); default: unpaced.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--text-free", is_flag=True, help="Emit only hashes, simhash and lengths.")
@_corpus_option
def simulate(out, to_kafka, broker, topic, no_key, events, accounts, attack_share, hydra_size,
             hours, rate, seed, text_free, corpus) -> None:
    """Synthetic, labelled traffic: benign personas and attacks, to a file or to Kafka."""
    from distillguard.stream.simulate.generator import SimConfig, generate
    from distillguard.stream.simulate.writers import labels_path_for, send_to_kafka, write_jsonl, write_labels

    if bool(out) == bool(to_kafka):
        raise click.UsageError("give exactly one of --out FILE or --kafka")
    cfg = SimConfig(accounts=accounts, attack_share=attack_share, hydra_size=hydra_size,
                    events=events, hours=hours, seed=seed, text=not text_free,
                    corpus=str(corpus) if corpus else None)
    accts, stream = generate(cfg)
    total = sum(a.n_events for a in accts)
    if to_kafka:
        s = _settings(broker=broker, input_topic=topic)
        n = send_to_kafka(s.broker, s.input_topic, stream, total, rate, keyed=not no_key)
        click.echo(f"produced {n} events of {len(accts)} accounts to {s.input_topic}", err=True)
        return
    n = write_jsonl(out, stream, total, rate)
    write_labels(labels_path_for(out), accts)
    attackers = sum(a.attack for a in accts)
    click.echo(f"wrote {n} events of {len(accts)} accounts ({attackers} attackers) to {out}; "
               f"labels in {labels_path_for(out)}", err=True)


@main.command()
@click.option("--database-url", help="SQLite/PostgreSQL URL [default: sqlite file in ./out].")
@click.option("--events", type=int, default=20_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--top", type=int, default=10, show_default=True, help="Accounts to list.")
def demo(database_url, events, seed, top) -> None:
    """The embedded default: simulator -> engine -> SQLite in one process, no Kafka or Postgres."""
    from distillguard.stream.demo import run_demo

    run_demo(database_url, events=events, seed=seed, top=top)


@main.command(name="eval")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out/eval"), show_default=True, help="Folder for report.md and PNGs.")
@click.option("--events-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled JSONL to replay instead of simulating (needs --labels).")
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False,
                                                         path_type=Path),
              help="CSV account_id,label,scenario,attack_start.")
@click.option("--events", type=int, default=60_000, show_default=True)
@click.option("--accounts", type=int, default=200, show_default=True)
@click.option("--hydra", "hydra_size", type=int, default=40, show_default=True)
@click.option("--hours", type=float, default=24.0, show_default=True)
@click.option("--seed", type=int, default=101, show_default=True)
@_corpus_option
@click.option("--ablation", is_flag=True, help="Add with/without rows per signal family and model.")
def evaluate(out_dir, events_file, labels_file, events, accounts, hydra_size, hours, seed,
             corpus, ablation) -> None:
    """Ours against baselines on labelled traffic (text and text-free): report.md + plots."""
    from distillguard.stream.evaluate.command import evaluate as run_eval
    from distillguard.stream.simulate.generator import SimConfig

    if bool(events_file) != bool(labels_file):
        raise click.UsageError("--events-file and --labels go together")
    cfg = SimConfig(accounts=accounts, hydra_size=hydra_size, events=events, hours=hours,
                    seed=seed, corpus=str(corpus) if corpus else None)
    report = run_eval(out_dir, cfg, events_file, labels_file, ablation_rows=ablation)
    click.echo(f"wrote {report}", err=True)


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command()
@click.option("--database-url", help="Target database [DISTILLGUARD_DATABASE_URL].")
def upgrade(database_url) -> None:
    """Apply all migrations to the configured database."""
    from distillguard.sinks.migrate import upgrade as do_upgrade

    url = _settings(database_url=database_url).database_url
    do_upgrade(url)
    click.echo(f"database at {_redact(url)} is at the latest schema", err=True)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- risk and triage API (stream/api) ---------------------------------------------------------

@main.command()
@click.option("--host", help="Address to listen on [DISTILLGUARD_API_HOST].")
@click.option("--port", type=int, help="Port [DISTILLGUARD_API_PORT].")
@click.option("--database-url", help="Store to read [DISTILLGUARD_DATABASE_URL].")
@click.option("--broker", help="Kafka for label feedback [DISTILLGUARD_BROKER].")
@click.option("--no-kafka", is_flag=True, help="Store labels only; send no feedback to Kafka.")
def api(host, port, database_url, broker, no_kafka) -> None:
    """The risk and triage HTTP API (its own process; reads PostgreSQL)."""
    import uvicorn
    from distillguard.stream.api import create_app

    s = _settings(api_host=host, api_port=port, database_url=database_url, broker=broker)
    app = create_app(s.database_url, broker=None if no_kafka else s.broker,
                     feedback_topic=s.feedback_topic, decisions_topic=s.decisions_topic,
                     partitions=s.partitions)
    uvicorn.run(app, host=s.api_host, port=s.api_port, log_level=s.log_level,
                proxy_headers=False, server_header=False)


@main.group()
def token() -> None:
    """API bearer tokens (stored as SHA-256 hashes only)."""


def _token_engine(database_url):
    import sqlalchemy as sa

    return sa.create_engine(_settings(database_url=database_url).database_url)


@token.command("create")
@click.option("--name", required=True, help="Who holds it, e.g. billing-2026 or bouncer-edge-1.")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["risk:read", "triage", "decisions:read", "admin"]),
              help="risk:read (billing), triage (SecOps), decisions:read (bouncers), admin.")
@click.option("--database-url", help="Store [DISTILLGUARD_DATABASE_URL].")
def token_create(name, scopes, database_url) -> None:
    """Create a token and print it once: it cannot be shown again."""
    import sqlalchemy as sa
    from distillguard.stream.api.auth import create_token

    engine = _token_engine(database_url)
    try:
        secret = create_token(engine, name, list(scopes))
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    except sa.exc.DBAPIError as err:
        raise click.ClickException(f"{err.orig}; has `distillguard db upgrade` run?") from None
    finally:
        engine.dispose()
    click.echo(secret)
    click.echo(f"token {name!r} with {', '.join(sorted(scopes))}: store it now, it is not "
               "kept in clear", err=True)


@token.command("list")
@click.option("--database-url", help="Store [DISTILLGUARD_DATABASE_URL].")
def token_list(database_url) -> None:
    """Token ids, names, scopes and state (never the tokens)."""
    from distillguard.stream.api.auth import list_tokens

    engine = _token_engine(database_url)
    try:
        for t in list_tokens(engine):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            click.echo(f"{t.token_id}  {t.name:<24} {','.join(t.scopes):<32} {state}")
    finally:
        engine.dispose()


@token.command("revoke")
@click.argument("name_or_id")
@click.option("--database-url", help="Store [DISTILLGUARD_DATABASE_URL].")
def token_revoke(name_or_id, database_url) -> None:
    """Revoke the active token with this name or id."""
    from distillguard.stream.api.auth import revoke_token

    engine = _token_engine(database_url)
    try:
        if not revoke_token(engine, name_or_id):
            raise click.ClickException(f"no active token {name_or_id!r}")
    finally:
        engine.dispose()
    click.echo(f"revoked {name_or_id}", err=True)


if __name__ == "__main__":
    sys.exit(main())
