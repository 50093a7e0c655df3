"""Names a scenario takes from the plugin registry rather than from a fixed list: the flows of the flow mix
(`harness.flows` entry points, or a `module:Class` reference). Checked when a value is validated, and
listed in the JSON Schema when it is exported, both from the registry of the moment: nothing is looked up
at import time.

Errors read like a Literal's (`expected 'a', 'b' or ... (got 'x'); did you mean 'a'?`), so the loader
words them as it words every other closed choice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from harness import plugins

REFERENCE_PATTERN = plugins.REFERENCE.pattern


def check_flow(value: str) -> str:
    """A registered flow's name, or a `module:Class` reference that imports to a class with `steps`."""
    if plugins.REFERENCE.match(value):
        try:
            obj = plugins.import_reference(value)
        except Exception as exc:  # the user's module may fail to import in any way; say how
            raise PydanticCustomError("flow_reference", "cannot import {ref}: {error}",
                                      {"ref": value, "error": f"{type(exc).__name__}: {exc}"}) from None  # fmt: skip
        if not (isinstance(obj, type) and callable(getattr(obj, "steps", None))):
            raise PydanticCustomError("flow_reference", "{ref} is not a flow class (a subclass of "
                                      "harness.clients.flows.Flow with a steps() method)", {"ref": value})  # fmt: skip
        return value
    names = plugins.registry().names("flows")
    if value not in names:
        expected = ", ".join(repr(n) for n in names) + " or a module:Class reference"
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return value


class _RegisteredFlow:
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(check_flow, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [{"enum": plugins.registry().names("flows")},
                          {"type": "string", "pattern": REFERENCE_PATTERN,
                           "description": "module:Class of a Flow subclass of your own"}]}  # fmt: skip


if TYPE_CHECKING:
    FlowRef = str
else:
    FlowRef = Annotated[str, _RegisteredFlow]


def load_plugins(loads: tuple[Callable[[], object], ...]) -> None:
    """Run each loader of plugins of one kind; one PluginError (exit 2) naming every plugin that failed."""
    errors = []
    for load in loads:
        try:
            load()
        except plugins.PluginError as exc:
            errors.append(exc)
    if (error := plugins.combined(errors)) is not None:
        raise error
