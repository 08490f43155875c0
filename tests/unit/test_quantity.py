"""Kubernetes quantities: parsing, exact values, canonical form and the byte/milli helpers."""

from fractions import Fraction

import pytest

from podrun.model.quantity import (
    FORMAT_ERROR,
    Format,
    canonical,
    from_json,
    parse_quantity,
    to_bytes,
    to_millis,
)


def test_format_error_is_the_kubernetes_message() -> None:
    assert FORMAT_ERROR == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Fraction(1, 10)),
        ("0.5", Fraction(1, 2)),
        ("1Gi", Fraction(2**30)),
        ("128Mi", Fraction(128 * 2**20)),
        ("1e3", Fraction(1000)),
        ("1k", Fraction(1000)),
        ("1M", Fraction(10**6)),
        ("1n", Fraction(1, 10**9)),
        ("-1.5", Fraction(-3, 2)),
    ],
)
def test_parse_gives_the_exact_value(text: str, value: Fraction) -> None:
    assert parse_quantity(text).value == value


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("1Ki", Format.BINARY_SI), ("1k", Format.DECIMAL_SI), ("2", Format.DECIMAL_SI), ("1e3", Format.DECIMAL_EXPONENT)],
)
def test_parse_remembers_the_suffix_kind(text: str, fmt: Format) -> None:
    assert parse_quantity(text).format is fmt


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("1000m", "1"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("12e2", "1200"),
        ("0.1m", "100u"),
    ],
)
def test_canonical_form_uses_the_largest_lossless_suffix(text: str, expected: str) -> None:
    assert canonical(text) == expected


def test_binary_value_below_1024_prints_as_decimal() -> None:
    assert canonical("0.5Ki") == "512"


def test_binary_value_with_a_fraction_of_a_byte_prints_as_decimal() -> None:
    assert canonical("1.0001Ki") == "1024102400u"


def test_already_canonical_input_text_is_kept_as_written() -> None:
    assert canonical("1E3") == "1E3"


def test_value_finer_than_a_nano_unit_rounds_up() -> None:
    assert canonical("1.0000000001") == "1000000001n"


def test_value_beyond_exa_keeps_its_value() -> None:
    assert canonical("1000E") == "1000E"


def test_invalid_text_is_rejected_with_the_regex_message() -> None:
    with pytest.raises(ValueError, match=r"^quantities must match the regular expression"):
        parse_quantity("abc")


def test_empty_text_is_rejected() -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity("")
    assert str(info.value) == FORMAT_ERROR


def test_unknown_suffix_is_rejected() -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity("1K")
    assert str(info.value) == "unable to parse quantity's suffix"


def test_second_decimal_point_is_rejected() -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity("1.5.5")
    assert str(info.value) == FORMAT_ERROR


def test_parse_does_not_trim_spaces() -> None:
    with pytest.raises(ValueError):
        parse_quantity(" 1")


def test_json_value_is_trimmed_like_unmarshal_json() -> None:
    assert str(from_json(" 2 ")) == "2"


def test_json_float_is_read_as_go_prints_it() -> None:
    assert str(from_json(0.5)) == "500m"


def test_large_json_float_is_read_in_plain_digits() -> None:
    assert str(from_json(1e16)) == "10P"


def test_json_integer_is_a_quantity() -> None:
    assert from_json(2).value == 2


def test_json_null_is_zero() -> None:
    assert from_json(None).is_zero()


def test_json_boolean_is_a_format_error() -> None:
    with pytest.raises(ValueError) as info:
        from_json(True)
    assert str(info.value) == FORMAT_ERROR


def test_round_up_to_milli_units() -> None:
    assert str(parse_quantity("0.1m").round_up(-3)) == "1m"


def test_round_up_keeps_a_value_that_is_already_precise_enough() -> None:
    assert str(parse_quantity("100m").round_up(-3)) == "100m"


def test_round_up_moves_negative_values_away_from_zero() -> None:
    assert str(parse_quantity("-1n").round_up(-3)) == "-1m"


def test_equal_values_in_different_spellings_compare_equal() -> None:
    assert parse_quantity("1Gi") == parse_quantity("1024Mi")


def test_quantities_are_ordered_by_value() -> None:
    assert parse_quantity("500m") < parse_quantity("1")


@pytest.mark.parametrize(("text", "expected"), [("1Gi", 2**30), ("128Mi", 134217728), ("0.5", 1), ("1k", 1000)])
def test_to_bytes_rounds_up_to_whole_bytes(text: str, expected: int) -> None:
    assert to_bytes(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("100m", 100), ("0.5", 500), ("1", 1000), ("1n", 1)])
def test_to_millis_rounds_up(text: str, expected: int) -> None:
    assert to_millis(text) == expected


def test_helpers_accept_a_parsed_quantity() -> None:
    assert to_millis(parse_quantity("250m")) == 250
