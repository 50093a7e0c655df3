"""Every probe type, registered as a `harness.probes` entry point: `Probe` is the discriminated union on
`type` the scenario's `probes:` validate against, built from the registry on first use (as faults are)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from harness import plugins
from harness.probes.base import ProbeModel

_check = plugins.typed_model_check(ProbeModel, "a probe model (a subclass of harness.probes.base.ProbeModel)")


def probe_types() -> dict[str, type[ProbeModel]]:
    """type -> model, every registered probe type; PluginError when one did not load."""
    return dict(plugins.registry().load("probes", _check))


_Registered = plugins.registered_union(probe_types)


if TYPE_CHECKING:
    Probe = ProbeModel
else:
    Probe = Annotated[ProbeModel, _Registered]
