"""Every misuse of the issue ends in one line that says what to do, an exit code, and never a
traceback; every wait on a service is bounded. Inputs: files, `-`, /dev/stdin, a pipe, gzip.

Tests that need the real PostgreSQL use its fixture; listeners and "unused" ports are on
127.0.0.1 in this helper's port range (DG_TEST_PORT_RANGE, default 31000-31099).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from distillguard.stream.cli import main

from tests.helpers import chat_events, harvester_events, raw

CLI = [sys.executable, "-m", "distillguard.stream.cli"]


def _port_range() -> range:
    low, high = os.environ.get("DG_TEST_PORT_RANGE", "31000-31099").split("-")
    return range(int(low), int(high) + 1)


def _free_port() -> int:
    """A port in our range that nothing listens on."""
    for port in _port_range():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in DG_TEST_PORT_RANGE")


@contextlib.contextmanager
def silent_server():
    """Accepts TCP connections and never says a word: a firewall black hole, a wrong port."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", _free_port()))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
    env.update({f"DISTILLGUARD_{k.upper()}": v for k, v in settings.items()})
    return env


def run_cli(args: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", _env())
    return subprocess.run(CLI + args, capture_output=True, timeout=timeout, **kwargs)


def assert_one_line_error(stderr: str | bytes, code: int, returncode: int, *words: str) -> str:
    """Exit code as given; no traceback; exactly one `Error:` line, containing `words`. A runtime
    error (exit 1) prints nothing else; a usage error (exit 2) adds click's usage lines."""
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert returncode == code, text
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, text
    if code == 1:
        assert text.strip() == errors[0], text
    for word in words:
        assert word in errors[0], text
    return errors[0]


def _events_file(tmp_path: Path, name: str = "events.jsonl") -> tuple[Path, int]:
    events = harvester_events("acct-h", 60) + chat_events("acct-c", 40)
    path = tmp_path / name
    path.write_bytes(b"\n".join(raw(e) for e in events) + b"\n")
    return path, len(events)


# -- score: inputs ----------------------------------------------------------------------------

def _scored(stderr: bytes | str, n: int) -> None:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert f"scored {n} events of 2 accounts" in text, text


def test_score_reads_dash_from_stdin(tmp_path):
    path, n = _events_file(tmp_path)
    result = CliRunner().invoke(main, ["score", "-", "--out", str(tmp_path / "s.csv"), "--quiet"],
                                input=path.read_bytes())
    assert result.exit_code == 0, result.output
    _scored(result.stderr, n)
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 3


def test_score_reads_dev_stdin_redirected_and_piped(tmp_path):
    path, n = _events_file(tmp_path)
    with path.open("rb") as fh:  # `score /dev/stdin < events.jsonl`
        redirected = run_cli(["score", "/dev/stdin", "--out", str(tmp_path / "a.csv"), "--quiet"],
                             stdin=fh, cwd=tmp_path)
    assert redirected.returncode == 0, redirected.stderr
    _scored(redirected.stderr, n)
    piped = run_cli(["score", "/dev/stdin", "--out", str(tmp_path / "b.csv"), "--quiet"],
                    input=path.read_bytes() + b"{bad\n", cwd=tmp_path)  # `cat x | score ...`
    assert piped.returncode == 0, piped.stderr
    _scored(piped.stderr, n)
    assert "-> " + str(tmp_path / "stdin.dlq.jsonl") in piped.stderr.decode()  # not in /dev
    assert (tmp_path / "stdin.dlq.jsonl").read_text().count("\n") == 1
    dashed = run_cli(["score", "-", "--out", str(tmp_path / "c.csv"), "--quiet"],
                     input=path.read_bytes(), cwd=tmp_path)
    assert dashed.returncode == 0, dashed.stderr
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes() \
        == (tmp_path / "c.csv").read_bytes()


def test_score_reads_gzip_and_zstd(tmp_path):
    import zstandard

    path, n = _events_file(tmp_path)
    gz = tmp_path / "events.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    zst = tmp_path / "events.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    outputs = []
    for source in (path, gz, zst):
        out = tmp_path / f"{source.name}.csv"
        result = CliRunner().invoke(main, ["score", str(source), "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
        _scored(result.stderr, n)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert not (tmp_path / "events.dlq.jsonl").exists()


def test_damaged_gzip_is_one_line(tmp_path):
    path, _ = _events_file(tmp_path)
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes())[:400])
    result = CliRunner().invoke(main, ["score", str(gz), "--out", str(tmp_path / "s.csv"), "--quiet"])
    assert_one_line_error(result.stderr, 1, result.exit_code, "cut.jsonl.gz", "gzip")
    assert not (tmp_path / "s.csv").exists()


def test_compressed_line_in_a_plain_file_is_named(tmp_path):
    path = tmp_path / "mixed.jsonl"
    compressed = gzip.compress(b"{}")[:8].replace(b"\n", b"")
    path.write_bytes(raw(chat_events("acct-z", 1)[0]) + b"\n" + compressed + b"\n")
    result = CliRunner().invoke(main, ["score", str(path), "--out", str(tmp_path / "s.csv"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert '"reason":"compressed"' in (tmp_path / "mixed.dlq.jsonl").read_text()


# -- score: outputs checked before the input is read; empty input -----------------------------

@pytest.mark.parametrize("flag", ["--out", "--dlq"])
def test_output_into_a_missing_folder_fails_before_reading(tmp_path, flag):
    fifo = tmp_path / "events.fifo"  # opening a FIFO without a writer blocks: reading first hangs
    os.mkfifo(fifo)
    args = ["score", str(fifo), "--out", str(tmp_path / "s.csv")]
    missing = str(tmp_path / "no-such-folder" / "x")
    args = [*args[:3], missing] if flag == "--out" else [*args, "--dlq", missing]
    started = time.monotonic()
    result = run_cli(args, timeout=30)
    assert time.monotonic() - started < 20
    assert_one_line_error(result.stderr, 1, result.returncode, "no-such-folder", "does not exist",
                          "nothing was read")


def test_output_that_is_the_input_is_refused(tmp_path):
    path, _ = _events_file(tmp_path)
    result = CliRunner().invoke(main, ["score", str(path), "--out", str(path)])
    assert_one_line_error(result.stderr, 1, result.exit_code, "is the input")
    assert path.read_bytes().startswith(b"{")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_input_without_events_says_so(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["score", str(path), "--out", str(tmp_path / "s.csv"), "--quiet"])
    assert_one_line_error(result.stderr, 1, result.exit_code, "input had no events")
    assert not (tmp_path / "s.csv").exists()


def test_missing_input_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["score", str(tmp_path / "nope.jsonl"), "--out", "s.csv"])
    assert_one_line_error(result.stderr, 2, result.exit_code, "does not exist")


# -- database: bounded waits, bad URLs, wrong password ---------------------------------------

def test_db_upgrade_against_a_silent_server_times_out(tmp_path):
    with silent_server() as port:
        started = time.monotonic()
        result = run_cli(["db", "upgrade", "--database-url",
                          f"postgresql+psycopg2://u:secret@127.0.0.1:{port}/x"],
                         env=_env(database_connect_timeout_s="2"), timeout=60)
        elapsed = time.monotonic() - started
    line = assert_one_line_error(result.stderr, 1, result.returncode, "no answer within the connect "
                                 "timeout", f"127.0.0.1:{port}")
    assert "secret" not in line
    assert elapsed < 15, elapsed


@pytest.mark.parametrize("url, code, words", [
    ("not a url", 2, ["--database-url", "postgresql+psycopg2://"]),
    ("foo://host/db", 1, ["unknown kind of database"]),
])
def test_db_upgrade_with_a_bad_url(url, code, words):
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url", url])
    assert_one_line_error(result.stderr, code, result.exit_code, *words)


def test_db_upgrade_with_a_refused_port():
    port = _free_port()
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url",
                                       f"postgresql+psycopg2://u:p@127.0.0.1:{port}/x"])
    assert_one_line_error(result.stderr, 1, result.exit_code, "connection refused")


@pytest.mark.postgres
def test_db_upgrade_with_a_wrong_password(postgres_url):
    url = sa.engine.make_url(postgres_url).set(password="not-the-password")
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url",
                                       url.render_as_string(hide_password=False)])
    line = assert_one_line_error(result.stderr, 1, result.exit_code, "login refused",
                                 "user and password")
    assert "not-the-password" not in line


@pytest.mark.postgres
def test_db_upgrade_then_tokens_work(postgres_url):
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--database-url", postgres_url]).exit_code == 0
    created = runner.invoke(main, ["token", "create", "--name", "t1", "--scope", "risk:read",
                                   "--database-url", postgres_url])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(main, ["token", "list", "--database-url", postgres_url])
    assert "t1" in listed.output


def test_api_with_a_bad_database_url():
    result = CliRunner().invoke(main, ["api", "--database-url", "not a url", "--no-kafka"])
    assert_one_line_error(result.stderr, 2, result.exit_code, "--database-url")


# -- tokens: the `db upgrade` hint only where the schema is missing ---------------------------

@pytest.mark.parametrize("command", [["list"], ["revoke", "x"],
                                     ["create", "--name", "n", "--scope", "admin"]])
def test_token_commands_on_a_connection_error_have_no_upgrade_hint(command):
    url = f"postgresql+psycopg2://u:p@127.0.0.1:{_free_port()}/x"
    result = CliRunner().invoke(main, ["token", *command, "--database-url", url])
    line = assert_one_line_error(result.stderr, 1, result.exit_code, "connection refused")
    assert "db upgrade" not in line


@pytest.mark.parametrize("command", [["list"], ["revoke", "x"],
                                     ["create", "--name", "n", "--scope", "admin"]])
def test_token_commands_on_a_missing_schema_suggest_db_upgrade(tmp_path, command):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    result = CliRunner().invoke(main, ["token", *command, "--database-url", url])
    assert_one_line_error(result.stderr, 1, result.exit_code, "no such table",
                          "has `distillguard db upgrade` run?")


# -- Kafka: bounded bootstrap wait --------------------------------------------------------------

@pytest.mark.parametrize("args", [["run", "--partitions", "2"],
                                  ["simulate", "--kafka", "--events", "50"]])
def test_kafka_commands_without_a_broker_fail_in_bounded_time(tmp_path, args):
    broker = f"127.0.0.1:{_free_port()}"
    env = _env(kafka_bootstrap_timeout_s="3", data_dir=str(tmp_path / "faust"), metrics_port="0")
    started = time.monotonic()
    result = run_cli([*args, "--broker", broker], env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert_one_line_error(result.stderr, 1, result.returncode, f"no Kafka broker answered at {broker}",
                          "within 3 s")
    assert elapsed < 20, elapsed
    assert not result.stdout


# -- argument validation ------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["simulate", "--out", "x.jsonl", "--events", "-5"], ["--events", "-5"]),
    (["simulate", "--out", "x.jsonl", "--attack-share", "2"], ["--attack-share", "2"]),
    (["simulate", "--out", "x.jsonl", "--accounts", "0"], ["--accounts"]),
    (["simulate", "--out", "x.jsonl", "--hours", "0"], ["--hours"]),
    (["run", "--partitions", "0"], ["--partitions", "0"]),
    (["run", "--metrics-port", "70000"], ["--metrics-port", "70000"]),
])
def test_arguments_out_of_range_are_usage_errors(tmp_path, args, words):
    result = CliRunner().invoke(main, args)
    assert_one_line_error(result.stderr, 2, result.exit_code, *words)
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize("variable, value", [("PARTITIONS", "0"), ("SCORE_EVERY", "0"),
                                             ("BROKER", "no-port"), ("LOG_LEVEL", "loud")])
def test_bad_settings_in_the_environment_are_named(tmp_path, variable, value):
    result = CliRunner().invoke(main, ["score", "-", "--out", str(tmp_path / "s.csv")],
                                env={f"DISTILLGUARD_{variable}": value}, input=b"")
    assert_one_line_error(result.stderr, 2, result.exit_code, f"DISTILLGUARD_{variable}")


def test_simulate_into_a_missing_folder_fails_before_generating(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "--out", str(tmp_path / "nope" / "x.jsonl")])
    assert_one_line_error(result.stderr, 1, result.exit_code, "does not exist")
