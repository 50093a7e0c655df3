"""`harness ui`: the scenarios its start form offers (this one first, then those beside its file and the
shipped ones that run on the services started for it), and the file each came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.contract import ScenarioChoice
from harness.run.journal import Journal
from harness.run.loadgen import plan_text
from harness.scenario import Scenario
from harness.scenario.catalog import candidates, conflict, resolved_yaml


@dataclass
class UiChoices:
    scenario: Scenario
    source: Path
    run_dir: Path
    duration_scale: float = 1.0
    sources: dict[str, Path] = field(default_factory=dict)  # where each offered scenario came from

    def offer(self, journal: Journal) -> tuple[ScenarioChoice, ...]:
        """Every scenario the form may start, each resolved into choices/ (the run's own is scenario.yaml)."""
        own = self.run_dir / "scenario.yaml"
        offered = [ScenarioChoice(name=self.scenario.name, file=str(own.resolve()), plan=plan_text(self.scenario))]
        left_out = []
        for path, candidate in candidates(self.scenario, self.source):
            if self.duration_scale != 1.0:
                candidate = candidate.scaled(self.duration_scale)
            reason = conflict(candidate, self.scenario)
            if reason is not None:
                left_out.append(f"{candidate.name} ({reason})")
                continue
            copy = self.run_dir / "choices" / f"{candidate.name}.yaml"
            copy.parent.mkdir(exist_ok=True)
            copy.write_text(resolved_yaml(candidate), encoding="utf-8")
            offered.append(ScenarioChoice(name=candidate.name, file=str(copy.resolve()), plan=plan_text(candidate)))
            self.sources[candidate.name] = path
        detail = ", ".join(c.name for c in offered[1:]) or "none"
        journal.event("ui_choices", f"also offered: {detail}; not offered: {', '.join(left_out) or 'none'}")
        return tuple(offered)
