"""Text signals: the grammar of grading prompts against the text benchmarks carry."""

from distillguard.models.text_signals import instruction_view, is_grading_prompt


def test_worked_exemplars_are_not_grading_prompts():
    exemplar = ("Evaluate the result of a random Boolean expression.\n\nQ: not ( True ) and "
                "( True ) is\nA: Let's think step by step. Let's evaluate A: A = not ( True ) = "
                "False. So the answer is False.\n\nQ: True and not False is\nA:")
    assert not is_grading_prompt(instruction_view(exemplar))
    judge = ("Please act as an impartial judge and evaluate the quality of the responses "
             "provided by two AI assistants. Output your final verdict: [[A]], [[B]] or [[C]].")
    assert is_grading_prompt(instruction_view(judge))
    assert is_grading_prompt(instruction_view(
        "Rate the answer below on a scale of 1 to 10.\n\nThe answer below: forty-two"))
