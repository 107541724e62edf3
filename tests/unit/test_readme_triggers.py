"""The README's Triggers section: its schedule and trigger examples are valid definitions."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from drwave.core.schedules import parse_expression
from drwave.models.triggers import DrillSchedule, FailoverTrigger

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_examples_of_a_drill_schedule_and_a_failover_trigger_are_valid() -> None:
    section = README.read_text(encoding="utf-8").split("## Triggers", 1)[1].split("\n## ", 1)[0]
    schedule_text, trigger_text = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    schedule = DrillSchedule.model_validate(yaml.safe_load(schedule_text))
    parse_expression(schedule.schedule_expression)
    trigger = FailoverTrigger.model_validate(yaml.safe_load(trigger_text))
    assert trigger.quorum == 2 and not trigger.armed
