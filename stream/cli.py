"""`distillguard` command line. Each command is thin wiring around stream/, models/ and sinks/.

Settings come from DISTILLGUARD_* environment variables; flags override them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
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
@click.option("--partitions", type=click.IntRange(1, 10_000),
              help="Partitions of created topics [DISTILLGUARD_PARTITIONS].")
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
    _policy(settings.policy_file)  # so is a bad enforcement policy
    _require_broker(settings)
    from distillguard.stream.kafka_security import KafkaAuthError

    try:
        run_worker(settings)
    except KafkaAuthError as err:  # one line, not a traceback: the fix is a setting
        raise click.ClickException(str(err)) from None


def _require_broker(settings: Settings) -> None:
    """Fail in bounded time with one line when no broker answers (not after a minute of logs)."""
    from distillguard.stream.kafka_security import KafkaAuthError
    from distillguard.stream.topics import BrokerUnavailable, wait_for_broker

    try:
        wait_for_broker(settings.broker, settings.kafka_bootstrap_timeout_s)
    except (BrokerUnavailable, KafkaAuthError) as err:
        raise click.ClickException(str(err)) from None


def _format_options(fn):
    """--format and --account-attribute, shared by `score` and `ingest`."""
    fn = click.option("--account-attribute", "account_attributes", multiple=True,
                      help="Span/resource attribute naming the account; repeatable, first present "
                           "wins [DISTILLGUARD_ACCOUNT_ATTRIBUTES, comma-separated].")(fn)
    return click.option("--format", "fmt", default=None,
                        type=click.Choice(["contract", "otlp-json", "otlp-proto", "zipkin-json",
                                           "litellm", "auto"]),
                        help="Declared input format [DISTILLGUARD_INPUT_FORMAT; default contract].")(fn)


def _declared_format(fmt: str | None, account_attributes: tuple[str, ...]):
    from distillguard.stream.intake.formats import account_attribute_list, parse_format

    s = _settings()
    return (parse_format(fmt or s.input_format),
            account_attribute_list(account_attributes or s.account_attributes))


def _skipped_summary(metrics) -> str:
    value = metrics.registry.get_sample_value
    skipped = {r: value("distillguard_spans_skipped_total", {"reason": r}) or 0
               for r in ("not_genai", "not_model_call", "duplicate_span")}
    if not any(skipped.values()):
        return ""
    return "; skipped spans: " + ", ".join(f"{n:.0f} {r}" for r, n in skipped.items() if n)


@main.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV to write: account_id,risk,first_alert_at,reasons.")
@click.option("--dlq", type=click.Path(dir_okay=False, path_type=Path),
              help="Dead-letter file [default: EVENTS.dlq.jsonl beside the input].")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_format_options
def score(events: str, out: Path, dlq: Path | None, quiet: bool, fmt: str | None,
          account_attributes: tuple[str, ...]) -> None:
    """Replay a file of events (JSONL, or the declared --format) through the engine; one CSV row
    per account.

    EVENTS is a file (plain, gzip or zstd) or - for standard input."""
    from distillguard.sinks.base import ListSink
    from distillguard.sinks.files import write_scores_csv
    from distillguard.stream.inputs import InputError
    from distillguard.stream.replay import replay_file

    config = _engine_config()
    fmt_, accounts = _declared_format(fmt, account_attributes)
    dlq = _score_outputs(events, out, dlq)
    if events == "-" and sys.stdin.isatty():
        click.echo("reading events from standard input (end with Ctrl-D)", err=True)
    try:
        result = replay_file(events, ListSink(), dlq, config, progress=not quiet, fmt=fmt_,
                             account_attributes=accounts)
    except InputError as err:
        raise click.ClickException(f"{err}; nothing written to {out}") from None
    except OSError as err:  # the dead-letter file, e.g. the disk filled up
        raise click.ClickException(f"while writing {dlq}: {err.strerror or err}") from None
    if result.events == 0:
        raise click.ClickException(
            f"input had no events: {result.lines} line(s) read from "
            f"{'standard input' if events == '-' else events}; nothing written to {out}")
    try:
        write_scores_csv(out, list(result.profiles.values()))
    except OSError as err:
        raise click.ClickException(f"while writing {out}: {err.strerror or err}") from None
    _score_summary(result, out)


def _score_outputs(events: str, out: Path, dlq: Path | None) -> Path:
    """The dead-letter path; every output checked before a byte of input is read."""
    from distillguard.sinks.files import unwritable
    from distillguard.stream.replay import dead_letter_path_for

    problem = unwritable(out)
    if problem is None:
        dlq = dlq or dead_letter_path_for(events, out.resolve().parent)
        problem = unwritable(dlq)
    if problem is None and events != "-":
        source = Path(events).resolve()
        if source in (out.resolve(), dlq.resolve()):
            problem = f"{events} is the input: write --out and --dlq elsewhere"
    if problem is not None:
        raise click.ClickException(f"{problem}; nothing was read")
    return dlq


def _score_summary(result, out: Path) -> None:
    from distillguard.stream.intake import Reason

    value = result.metrics.registry.get_sample_value
    bad = sum(value("distillguard_events_dead_lettered_total", {"reason": r.value}) or 0
              for r in Reason)
    consumed = value("distillguard_events_consumed_total")
    click.echo(f"scored {value('distillguard_events_scored_total'):.0f} events of "
               f"{len(result.profiles)} accounts in {result.seconds:.1f}s "
               f"({consumed / max(result.seconds, 1e-9):,.0f} events/s); "
               f"{value('distillguard_events_duplicate_total'):.0f} duplicates, {bad:.0f} dead letters"
               + (f" -> {result.dead_letter_path}" if result.dead_letter_path else "")
               + _skipped_summary(result.metrics)
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
@click.option("--events", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="About this many.")
@click.option("--accounts", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--attack-share", type=click.FloatRange(0.0, 1.0), default=0.15, show_default=True,
              help="Share of accounts that attack, 0-1.")
@click.option("--hydra", "hydra_size", type=click.IntRange(min=0), default=30, show_default=True,
              help="Accounts in one hydra campaign (0 = none).")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=24.0,
              show_default=True, help="Event-time span.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="Events per second (wall clock); default: unpaced.")
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
    if out:
        from distillguard.sinks.files import unwritable

        problem = unwritable(out) or unwritable(labels_path_for(out))
        if problem:
            raise click.ClickException(problem)
    cfg = SimConfig(accounts=accounts, attack_share=attack_share, hydra_size=hydra_size,
                    events=events, hours=hours, seed=seed, text=not text_free,
                    corpus=str(corpus) if corpus else None)
    accts, stream = generate(cfg)
    total = sum(a.n_events for a in accts)
    if to_kafka:
        from kafka.errors import KafkaError

        s = _settings(broker=broker, input_topic=topic)
        _require_broker(s)
        try:
            n = send_to_kafka(s.broker, s.input_topic, stream, total, rate, keyed=not no_key)
        except KafkaError as err:
            raise click.ClickException(f"producing to {s.input_topic} at {s.broker} failed: "
                                       f"{err}") from None
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

    s = _settings(database_url=database_url)
    with _database_errors(s.database_url):
        do_upgrade(s.database_url, connect_timeout_s=s.database_connect_timeout_s,
                   statement_timeout_s=s.database_statement_timeout_s)
    click.echo(f"database at {_redact(s.database_url)} is at the latest schema", err=True)


def _redact(url: str) -> str:
    from distillguard.sinks.database import redact

    return redact(url)


@contextlib.contextmanager
def _database_errors(url: str, missing_schema_hint: bool = False) -> Iterator[None]:
    """Database failures as one line that names the database and what to check. The `db upgrade`
    hint only where the schema is what is missing."""
    import sqlalchemy as sa
    from distillguard.sinks.database import describe_error, is_missing_table

    try:
        yield
    except sa.exc.DBAPIError as err:
        message = describe_error(err, url)
        if missing_schema_hint and is_missing_table(err):
            message += "; has `distillguard db upgrade` run?"
        raise click.ClickException(message) from None
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as err:
        raise click.ClickException(describe_error(err, url)) from None


# -- risk and triage API (stream/api) ---------------------------------------------------------

@main.command()
@click.option("--host", help="Address to listen on [DISTILLGUARD_API_HOST].")
@click.option("--port", type=int, help="Port [DISTILLGUARD_API_PORT].")
@click.option("--database-url", help="The API's own login, ideally of the distillguard_api role "
              "[DISTILLGUARD_API_DATABASE_URL, else DISTILLGUARD_DATABASE_URL].")
@click.option("--broker", help="Kafka for label feedback [DISTILLGUARD_BROKER].")
@click.option("--no-kafka", is_flag=True, help="Store labels only; send no feedback to Kafka.")
def api(host, port, database_url, broker, no_kafka) -> None:
    """The risk and triage HTTP API (its own process; reads PostgreSQL)."""
    import uvicorn
    from distillguard.stream.api import create_app

    s = _settings(api_host=host, api_port=port, api_database_url=database_url, broker=broker)
    url = s.api_database_url or s.database_url
    with _database_errors(url):
        app = create_app(url, broker=None if no_kafka else s.broker,
                         feedback_topic=s.feedback_topic, decisions_topic=s.decisions_topic,
                         partitions=s.partitions, allowlist_max_days=s.allowlist_max_days,
                         max_body_bytes=s.api_max_body_bytes)
    uvicorn.run(app, host=s.api_host, port=s.api_port, log_level=s.log_level,
                proxy_headers=False, server_header=False)


# -- enforcement policy (models/policy.py) -----------------------------------------------------

def _policy(path: str):
    from distillguard.models.policy_file import PolicyError
    from distillguard.stream.decider import load_policy

    try:
        return load_policy(path)
    except PolicyError as err:
        raise click.UsageError(str(err)) from None


@main.group()
def policy() -> None:
    """The enforcement policy: risk bands -> decisions (docs/secops.md)."""


@policy.command("check")
@click.argument("file", required=False)
def policy_check(file) -> None:
    """Validate a policy file [DISTILLGUARD_POLICY_FILE] and print the policy in effect."""
    import json

    from distillguard.models.policy_file import policy_to_dict

    path = file if file is not None else _settings().policy_file
    click.echo(json.dumps(policy_to_dict(_policy(path)), indent=2))
    click.echo(f"policy {'from ' + path if path else '(built-in defaults)'} is valid", err=True)


@main.command()
@click.option("--host", help="Address to listen on [DISTILLGUARD_INGEST_HOST].")
@click.option("--port", type=int, help="Port [DISTILLGUARD_INGEST_PORT; 4318].")
@click.option("--broker", help="Kafka bootstrap servers [DISTILLGUARD_BROKER].")
@click.option("--input-topic", help="Topic to produce events to [DISTILLGUARD_INPUT_TOPIC].")
@click.option("--database-url", help="Store holding the tokens [DISTILLGUARD_DATABASE_URL].")
@click.option("--account-attribute", "account_attributes", multiple=True,
              help="Span/resource attribute naming the account; repeatable, first present wins "
                   "[DISTILLGUARD_ACCOUNT_ATTRIBUTES, comma-separated].")
def ingest(host, port, broker, input_topic, database_url, account_attributes) -> None:
    """OTLP/HTTP receiver: POST /v1/traces (protobuf or JSON) -> contract events on Kafka."""
    import logging

    from distillguard.stream.ingest.server import serve
    from distillguard.stream.intake.formats import account_attribute_list

    s = _settings(ingest_host=host, ingest_port=port, broker=broker, input_topic=input_topic,
                  database_url=database_url)
    logging.basicConfig(level=s.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(s, account_attribute_list(account_attributes or s.account_attributes))


@main.group()
def token() -> None:
    """API bearer tokens (stored as SHA-256 hashes only)."""


def _token_engine(database_url):
    from distillguard.sinks.database import create_engine

    s = _settings(database_url=database_url)
    with _database_errors(s.database_url):
        return create_engine(s.database_url, connect_timeout_s=s.database_connect_timeout_s,
                             statement_timeout_s=s.database_statement_timeout_s)


@token.command("create")
@click.option("--name", required=True, help="Who holds it, e.g. billing-2026 or bouncer-edge-1.")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["risk:read", "triage", "allowlist", "decisions:read", "ingest",
                                 "admin"]),
              help="risk:read (billing), triage (SecOps), allowlist (may lift enforcement), "
                   "decisions:read (bouncers), ingest (OTLP producers), admin.")
@click.option("--expires", help="When it stops working: a duration (90m, 12h, 30d, 2w) or a "
              "date/time (2027-01-31, 2027-01-31T12:00:00Z). Default: never.")
@click.option("--database-url", help="Store [DISTILLGUARD_DATABASE_URL].")
def token_create(name, scopes, expires, database_url) -> None:
    """Create a token and print it once: it cannot be shown again."""
    from distillguard.stream.api.auth import create_token

    expires_at = _expiry(expires) if expires else None
    engine = _token_engine(database_url)
    try:
        with _database_errors(str(engine.url), missing_schema_hint=True):
            secret = create_token(engine, name, list(scopes), expires_at)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    finally:
        engine.dispose()
    click.echo(secret)
    until = f", expires {expires_at:%Y-%m-%dT%H:%M:%SZ}" if expires_at else ""
    click.echo(f"token {name!r} with {', '.join(sorted(scopes))}{until}: store it now, it is "
               "not kept in clear", err=True)


def _expiry(text: str):
    """--expires: a duration from now or an ISO date/time (UTC unless it has an offset)."""
    from datetime import UTC, datetime, timedelta

    from distillguard.models.policy_file import PolicyError, parse_duration

    now = datetime.now(tz=UTC)
    try:
        return now + timedelta(seconds=parse_duration(text.strip(), "--expires"))
    except PolicyError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a duration (30d, 12h) nor a date "
                                 "(2027-01-31 or 2027-01-31T12:00:00Z)", param_hint="--expires"
                                 ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise click.BadParameter(f"{text} is not in the future", param_hint="--expires")
    return when.astimezone(UTC)


@token.command("list")
@click.option("--database-url", help="Store [DISTILLGUARD_DATABASE_URL].")
def token_list(database_url) -> None:
    """Token ids, names, scopes and state (never the tokens)."""
    from datetime import UTC, datetime

    from distillguard.stream.api.auth import list_tokens

    engine = _token_engine(database_url)
    try:
        now = datetime.now(tz=UTC)
        with _database_errors(str(engine.url), missing_schema_hint=True):
            tokens = list_tokens(engine)
        for t in tokens:
            expires = t.expires_at and (t.expires_at if t.expires_at.tzinfo
                                        else t.expires_at.replace(tzinfo=UTC)).astimezone(UTC)
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else \
                f"expired {expires:%Y-%m-%d}" if expires and expires <= now else \
                f"active until {expires:%Y-%m-%d %H:%M}Z" if expires else "active"
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
        with _database_errors(str(engine.url), missing_schema_hint=True):
            revoked = revoke_token(engine, name_or_id)
        if not revoked:
            raise click.ClickException(f"no active token {name_or_id!r}")
    finally:
        engine.dispose()
    click.echo(f"revoked {name_or_id}", err=True)


if __name__ == "__main__":
    sys.exit(main())
