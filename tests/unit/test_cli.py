"""The offline commands, run as a user would: simulate -> score -> CSV; demo -> SQLite."""

import csv
import json
import sqlite3

from click.testing import CliRunner
from distillguard.stream.cli import main

from tests.helpers import chat_events, harvester_events, raw

BAD_LINES = [b'{"event_id": "x"}', b"[1, 2]", b"{not json",
             b'{"event_id": "a", "timestamp": "yesterday", "account_id": "b"}']


def test_score_writes_one_row_per_account_and_dead_letters(tmp_path):
    events = harvester_events("acct-harvest", 200) + chat_events("acct-chat", 150)
    events.sort(key=lambda e: e["timestamp"])
    path = tmp_path / "events.jsonl"
    lines = [raw(e) for e in events] + BAD_LINES + [raw(events[0]), raw(events[5])]
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(main, ["score", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["account_id", "risk", "first_alert_at", "reasons"]
    by_account = {r["account_id"]: r for r in rows}
    assert set(by_account) == {"acct-harvest", "acct-chat"}
    assert float(by_account["acct-harvest"]["risk"]) >= 80
    assert by_account["acct-harvest"]["first_alert_at"].endswith("Z")
    assert "logprobs" in by_account["acct-harvest"]["reasons"]
    assert float(by_account["acct-chat"]["risk"]) < 50 and not by_account["acct-chat"]["first_alert_at"]
    dlq = [json.loads(line) for line in (tmp_path / "events.dlq.jsonl").read_text().splitlines()]
    assert [d["reason"] for d in dlq] == ["missing_field", "not_an_object", "invalid_json",
                                          "bad_timestamp"]
    assert [d["original"].encode() for d in dlq] == BAD_LINES
    assert dlq[0]["source"] == {"file": str(path), "line": len(events) + 1}
    assert "2 duplicates, 4 dead letters" in result.output


def test_undecodable_bytes_are_kept_in_base64(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\xff\xfe not utf8\n")
    result = CliRunner().invoke(main, ["score", str(path), "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "odd.dlq.jsonl").read_text())
    assert record["reason"] == "invalid_json" and "original_base64" in record


def test_simulate_then_score_catches_attackers(tmp_path):
    sim = tmp_path / "sim.jsonl"
    runner = CliRunner()
    result = runner.invoke(main, ["simulate", "--out", str(sim), "--events", "6000",
                                  "--accounts", "24", "--hydra", "5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    labels = {r["account_id"]: r for r in csv.DictReader((tmp_path / "sim.labels.csv").open())}
    out = tmp_path / "scores.csv"
    assert runner.invoke(main, ["score", str(sim), "--out", str(out), "--quiet"]).exit_code == 0
    risk = {r["account_id"]: float(r["risk"]) for r in csv.DictReader(out.open())}
    attackers = [a for a, r in labels.items() if r["label"] == "1"]
    benign = [a for a, r in labels.items() if r["label"] == "0"]
    assert attackers and benign
    assert min(risk[a] for a in attackers) > max(risk[b] for b in benign)


def test_text_free_simulation_has_no_text(tmp_path):
    sim = tmp_path / "tf.jsonl"
    result = CliRunner().invoke(main, ["simulate", "--out", str(sim), "--events", "300",
                                       "--accounts", "6", "--text-free"])
    assert result.exit_code == 0, result.output
    for line in sim.read_text().splitlines():
        prompt = json.loads(line)["prompt"]
        assert "text" not in prompt and len(prompt["simhash"]) == 16


def test_demo_fills_sqlite_and_prints_summary(tmp_path):
    db = tmp_path / "demo.sqlite"
    result = CliRunner().invoke(main, ["demo", "--events", "4000", "--database-url",
                                       f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert "Riskiest" in result.output and str(db) in result.output
    conn = sqlite3.connect(db)
    n_accounts = conn.execute("SELECT count(*) FROM billing_account_risk").fetchone()[0]
    n_alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    assert n_accounts == 60 + 30 and n_alerts >= 1  # 60 accounts plus a hydra campaign of 30
    # prompts never reach the database: no column anywhere holds prompt text
    dump = "\n".join(conn.iterdump())
    assert "Explain step by step" not in dump and "Complete:" not in dump
