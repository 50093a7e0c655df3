from __future__ import annotations

import pytest

from harness.idp.chaos import ChaosState, ErrorRule, parse_rule
from harness.idp.flowstore import new_user_code, normalize_user_code


def test_state_round_trips_through_json() -> None:
    state = ChaosState(clock_skew_s=-30, store_latency_ms=5.0, errors={"token": ErrorRule(503, 0.5, 1, None)},
                       device_interval_s=0)
    assert ChaosState.from_json(state.to_json()) == state
    assert state.active and not ChaosState().active


def test_replace_with_keeps_the_object() -> None:
    state = ChaosState(clock_skew_s=3)
    held = state
    state.replace_with(ChaosState())
    assert held.clock_skew_s == 0


def test_rules_are_validated() -> None:
    assert parse_rule({"endpoint": "token", "status": 429, "retry_after_s": 2}) == ("token", ErrorRule(429, 1.0, 2))
    for bad in ({"endpoint": "x"}, {"endpoint": "token", "status": 200}, {"endpoint": "*", "probability": -1},
                {"endpoint": "*", "aws_error_type": "a b"}):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_user_codes() -> None:
    code = new_user_code()
    assert len(code) == 9 and code[4] == "-" and normalize_user_code(code.lower().replace("-", " ")) == code
