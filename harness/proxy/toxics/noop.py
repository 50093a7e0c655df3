"""noop (Toxiproxy's): does nothing; Toxiproxy's default toxic, used to test set-up and the API."""

from __future__ import annotations

from harness.proxy.pipeline import Stage, StageContext
from harness.proxy.registry import Toxic, register


@register
class NoopToxic(Toxic):
    type_name = "noop"

    def stage(self, ctx: StageContext) -> Stage:
        return Stage(ctx)
