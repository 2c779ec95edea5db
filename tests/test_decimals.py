"""Specification of bot.trading.decimals: floats become their shortest decimal form."""

from decimal import Decimal

import pytest

from bot.trading.decimals import to_decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.95, "1.95"), (0.1, "0.1"), (100.0, "100.0"), (3, "3.0"), (-0.05, "-0.05"), (1e-7, "1e-07")],
)
def test_a_float_becomes_its_shortest_decimal_form(value, expected) -> None:
    assert to_decimal(value) == Decimal(expected)


def test_shortest_forms_make_money_arithmetic_exact() -> None:
    assert (to_decimal(1.95) - to_decimal(1.60)) * 3 * 100 == Decimal("105")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_refused(value) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_decimal(value)
