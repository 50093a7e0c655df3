"""`down` (the proxy itself off for a phase) and `command` (the user's own argv lists): their models."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.faults import FAULT_ADAPTER
from harness.faults.command import CommandFault
from harness.faults.down import DownFault


def test_down_switches_the_proxy_off_and_back_on() -> None:
    fault = FAULT_ADAPTER.validate_python({"type": "down"})
    assert isinstance(fault, DownFault) and fault.channel == "proxy"
    assert fault.proxy_switch() == ({"enabled": False}, {"enabled": True})
    assert fault.aimed_at() is None  # every proxied origin
    aimed = FAULT_ADAPTER.validate_python({"type": "down", "endpoint": "jwks"})
    assert isinstance(aimed, DownFault) and aimed.aimed_at() == "jwks"
    with pytest.raises(TypeError):
        fault.toxic("t", {})


def test_a_command_is_two_argv_lists_with_a_timeout() -> None:
    fault = FAULT_ADAPTER.validate_python({"type": "command", "apply": ["kubectl", "scale", "kc", "--replicas=0"],
                                           "revert": ["kubectl", "scale", "kc", "--replicas=2"]})
    assert isinstance(fault, CommandFault) and fault.channel == "command"
    assert fault.apply[-1] == "--replicas=0" and fault.timeout_s == 60


@pytest.mark.parametrize(
    ("fault", "field", "words"),
    [
        ({"type": "command", "apply": ["true"]}, "revert", "Field required"),
        ({"type": "command", "apply": [], "revert": ["true"]}, "apply", "at least 1"),
        ({"type": "command", "apply": "systemctl stop keycloak", "revert": ["true"]}, "apply", "tuple"),
        ({"type": "command", "apply": ["systemctl stop keycloak"], "revert": ["true"]}, "apply", "no shell"),
        ({"type": "command", "apply": ["true"], "revert": ["true"], "timeout_s": 0}, "timeout_s", "greater than 0"),
        ({"type": "command", "apply": ["true"], "revert": ["true"], "shell": True}, "shell", "Extra inputs"),
    ],
)
def test_bad_commands_name_their_field(fault: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        FAULT_ADAPTER.validate_python(fault)
    assert field in str(info.value) and words in str(info.value)
