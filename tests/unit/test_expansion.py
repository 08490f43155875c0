"""`$(VAR)` expansion, case by case as `third_party/forked/golang/expansion` behaves."""

from __future__ import annotations

from podrun.kubelet.expansion import expand, expand_command, mapping_for

VARS = {"A": "alpha", "B": "beta", "EMPTY": "", "REF": "$(A)"}
lookup = mapping_for(VARS)


def test_reference_is_replaced_by_its_value() -> None:
    assert expand("$(A)", lookup) == "alpha"


def test_references_inside_text_are_replaced() -> None:
    assert expand("___$(A)-$(B)___", lookup) == "___alpha-beta___"


def test_adjacent_references_are_both_replaced() -> None:
    assert expand("$(A)$(B)", lookup) == "alphabeta"


def test_unknown_reference_is_left_as_written() -> None:
    assert expand("x $(NOPE) y", lookup) == "x $(NOPE) y"


def test_reference_to_an_empty_value_becomes_empty() -> None:
    assert expand("[$(EMPTY)]", lookup) == "[]"


def test_double_dollar_escapes_a_reference() -> None:
    assert expand("$$(A)", lookup) == "$(A)"


def test_double_dollar_alone_is_one_dollar() -> None:
    assert expand("a$$b", lookup) == "a$b"


def test_triple_dollar_is_a_dollar_then_a_reference() -> None:
    assert expand("$$$(A)", lookup) == "$alpha"


def test_unclosed_reference_is_left_as_is() -> None:
    assert expand("$(A", lookup) == "$(A"


def test_unclosed_reference_swallows_up_to_the_next_closer() -> None:
    # The scanner reads the name up to the first ")": "A $(B" is not defined, so all stays.
    assert expand("$(A $(B)", lookup) == "$(A $(B)"


def test_dollar_before_another_character_is_kept() -> None:
    assert expand("$A and $ B", lookup) == "$A and $ B"


def test_trailing_dollar_is_kept() -> None:
    assert expand("cost: 5$", lookup) == "cost: 5$"


def test_empty_reference_is_looked_up_and_kept_when_unknown() -> None:
    assert expand("$()", lookup) == "$()"


def test_values_are_not_expanded_again() -> None:
    assert expand("$(REF)", lookup) == "$(A)"


def test_text_without_references_is_unchanged() -> None:
    assert expand("plain (text)", lookup) == "plain (text)"


def test_mapping_for_takes_the_first_context_that_has_the_name() -> None:
    first_wins = mapping_for({"A": "one"}, {"A": "two", "B": "three"})
    assert expand("$(A) $(B)", first_wins) == "one three"


def test_expand_command_expands_command_and_args_from_env() -> None:
    command, args = expand_command(["sh", "-c", "echo $(A)"], ["$(B)", "$$(B)", "$(C)"], {"A": "1", "B": "2"})
    assert command == ["sh", "-c", "echo 1"]
    assert args == ["2", "$(B)", "$(C)"]


def test_expand_command_of_nothing_is_nothing() -> None:
    assert expand_command([], [], {"A": "1"}) == ([], [])
