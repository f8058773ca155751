"""What prompt text reveals, reduced to booleans at once: the text itself is never kept.

Patterns cover several languages because distillation sweeps run across many of them.
"""

from __future__ import annotations

import re

_REASONING = re.compile(
    r"step[- ]by[- ]step|show (?:your|all|the) (?:work|reasoning|steps)|think (?:it )?through"
    r"|explain your (?:reasoning|thought process|thinking)|chain[- ]of[- ]thought|reason carefully"
    r"|walk me through your (?:reasoning|thinking)|before answering, (?:think|reason)"
    r"|paso a paso|muestra tu razonamiento|explica tu razonamiento"      # es
    r"|étape par étape|montre ton raisonnement|explique ton raisonnement"  # fr
    r"|schritt für schritt|zeige deine überlegungen|erkläre deine (?:überlegungen|gedanken)"  # de
    r"|passo a passo|mostra il tuo ragionamento|mostre seu raciocínio"    # it, pt
    r"|шаг за шагом|объясни(?:те)? (?:свои )?рассуждени"                  # ru
    r"|一步一步|逐步|请展示你的推理|思考过程|ステップバイステップ|段階的に|단계별로",  # zh, ja, ko
    re.IGNORECASE,
)
_GRADING = re.compile(
    r"\b(?:rate|score|grade) (?:the|this|each|these) (?:response|answer|completion|output)s?\b"
    r"|\brubric\b|on a scale (?:of|from) 1|which (?:response|answer) is better"
    r"|reward model|preference (?:label|pair)|assistant [ab]\b",
    re.IGNORECASE,
)


def asks_for_reasoning(text: str) -> bool:
    return _REASONING.search(text) is not None


def is_grading_prompt(text: str) -> bool:
    return _GRADING.search(text) is not None
