"""Prompt text for the simulator: a folder of JSONL corpora read at run time, or the built-in
vocabulary. Nothing here is kept in the project: corpora are read from where they lie.

A record's prompt is its first field among TEXT_FIELDS (strings, or lists of turns). Files are
grouped into kinds by name (`KINDS`); a kind with no file falls back to every text loaded, so any
folder of JSONL prompts works, with less realism. JSON (not JSONL) side files give the Orca
system messages, the judge templates and the chain-of-thought prefixes when present.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from distillguard.stream.simulate.vocabulary import CHAT_OPENERS, CHAT_TOPICS, SKILLS, SUBJECTS

TEXT_FIELDS = ("text", "prompt", "instruction", "question", "input", "human_turns", "turns")
KINDS = {  # kind: file-name stems that supply it
    "instruction": ("alpaca_en", "alpaca_seed_tasks", "code_alpaca", "user_oriented_instructions"),
    "instruction_zh": ("alpaca_zh",),
    "cot": ("flan_cot",), "t0": ("t0_prompts",), "chat": ("arena_hard_prompts", "mt_vicuna_bench",
                                                          "hh_rlhf_harmless_test"),
    "gsm8k": ("gsm8k_test",), "mmlu": ("mmlu",), "bbh": ("bbh",), "code": ("humaneval",),
    "task": ("exercism_tasks",), "web": ("c4_web_text", "wiki_passages"),
    "review": ("review_texts",), "toolcall": ("glaive_toolcall",), "pairs": ("answer_pairs",),
    "agent_system": ("agent_system_prompts",),
}
MAX_ROWS = 4000  # per file: enough variety, bounded memory


def _record_text(rec: dict) -> str | None:
    for name in TEXT_FIELDS:
        value = rec.get(name)
        if isinstance(value, str) and value.strip():
            extra = rec.get("input") if name == "instruction" else None
            return f"{value}\n\n{extra}" if isinstance(extra, str) and extra else value
        if isinstance(value, list) and value and isinstance(value[0], str):
            return value[0]
    return None


class TextSource:
    """`sample(kind, rng)`: one prompt of a kind; `records(kind)`: the raw records."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.texts: dict[str, list[str]] = {}
        self.raw: dict[str, list[dict]] = {}
        self.side: dict[str, object] = {}
        if folder is not None:
            self._load(folder)

    @property
    def builtin(self) -> bool:
        return self.folder is None

    def _load(self, folder: Path) -> None:
        files = sorted(folder.glob("*.jsonl"))
        if not files:
            raise ValueError(f"--corpus {folder}: no *.jsonl files there")
        by_stem: dict[str, list[dict]] = {}
        for path in files:
            rows = []
            with path.open(encoding="utf-8") as fh:
                for i, line in enumerate(fh):
                    if i >= MAX_ROWS:
                        break
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(rec, dict):
                        rows.append(rec)
            by_stem[path.stem] = rows
        everything = [t for rows in by_stem.values() for r in rows if (t := _record_text(r))]
        if not everything:
            raise ValueError(f"--corpus {folder}: no record has a field among {TEXT_FIELDS}")
        for kind, stems in KINDS.items():
            raw = [r for s in stems for r in by_stem.get(s, [])]
            texts = [t for r in raw if (t := _record_text(r))]
            self.raw[kind] = raw
            self.texts[kind] = texts or everything
        self.texts["any"] = everything
        for name in ("sensei_orca_system_messages.json", "bbh_cot_prompts.json",
                     "alpaca_prompt_dict.json"):
            path = folder / name
            if path.exists():
                self.side[name.split(".")[0]] = json.loads(path.read_text(encoding="utf-8"))
        path = folder / "alpaca_selfinstruct_prompt.txt"
        if path.exists():
            self.side["selfinstruct"] = path.read_text(encoding="utf-8")
        path = folder / "judge_prompts.jsonl"
        if path.exists():
            self.side["judge"] = [json.loads(x) for x in path.read_text().splitlines() if x]

    def sample(self, kind: str, rng: random.Random) -> str:
        if self.builtin:
            return _builtin(kind, rng)
        return rng.choice(self.texts.get(kind) or self.texts["any"])

    def records(self, kind: str) -> list[dict]:
        return self.raw.get(kind, [])


def _builtin(kind: str, rng: random.Random) -> str:
    """Built-in vocabulary: sentences of our own words, shaped a little by kind."""
    words = " ".join(rng.choice(SUBJECTS).split()[0] + rng.choice("aeiou")
                     for _ in range(rng.randint(6, 30)))
    if kind in ("chat", "review"):
        return f"{rng.choice(CHAT_OPENERS)} {rng.choice(CHAT_TOPICS)} {words}"
    if kind == "web":
        return words * rng.randint(2, 6)
    return f"{rng.choice(SKILLS).capitalize()} this {rng.choice(SUBJECTS)} question: {words}"
