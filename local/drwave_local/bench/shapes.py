"""The fixed suite of plan shapes both engines run, with the same seeds and DRS timelines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drwave.models.plan import PlanDocument
from drwave_local.simulators.environment import Environment

SEED = 20260105


@dataclass
class Shape:
    """One benchmark case: an environment and the plans started together in it."""

    name: str
    description: str
    environment: Environment
    plans: list[PlanDocument]

    @property
    def servers(self) -> int:
        """Source servers across all plans."""
        return len(self.environment.source_servers)


def _server_ids(prefix: int, wave: int, count: int) -> list[str]:
    return [f"s-{prefix:03d}{wave:03d}{i:011d}" for i in range(count)]


def _plan(plan_id: str, layout: list[tuple[str, list[str], int]], prefix: int) -> tuple[dict[str, Any], list[str]]:
    """A plan document from (wave id, depends on, server count) rows; returns it and its server ids."""
    groups, waves, servers = [], [], []
    for index, (wave_id, depends_on, count) in enumerate(layout):
        ids = _server_ids(prefix, index, count)
        servers += ids
        groups.append({"id": f"pg-{plan_id}-{wave_id}", "name": wave_id, "sourceServerIds": ids})
        waves.append({"id": wave_id, "protectionGroupIds": [f"pg-{plan_id}-{wave_id}"], "dependsOn": depends_on})
    document = {"protectionGroups": groups, "recoveryPlan": {"id": plan_id, "name": plan_id, "waves": waves}}
    return document, servers


def _shape(name: str, description: str, plans: list[tuple[dict[str, Any], list[str]]]) -> Shape:
    environment = Environment.model_validate(
        {"seed": SEED, "jitter": 0.2, "sourceServers": [{"id": s} for _, ids in plans for s in ids]}
    )
    return Shape(name, description, environment, [PlanDocument.model_validate(doc) for doc, _ in plans])


def chain(servers_per_wave: int = 10) -> Shape:
    """The seed's reference: three waves, each after the previous."""
    layout = [("app", [], servers_per_wave), ("db", ["app"], servers_per_wave), ("web", ["db"], servers_per_wave)]
    return _shape("chain-3", f"3-wave chain, {servers_per_wave} servers per wave", [_plan("chain", layout, 1)])


def diamond(servers_per_wave: int = 10, plan_id: str = "diamond", prefix: int = 2) -> tuple[dict[str, Any], list[str]]:
    """A -> (B, C, D) -> E."""
    layout = [
        ("a", [], servers_per_wave),
        ("b", ["a"], servers_per_wave),
        ("c", ["a"], servers_per_wave),
        ("d", ["a"], servers_per_wave),
        ("e", ["b", "c", "d"], servers_per_wave),
    ]
    return _plan(plan_id, layout, prefix)


def fan_out(servers: int = 250) -> Shape:
    """One wave wider than a DRS job."""
    return _shape("fan-out", f"one wave of {servers} servers", [_plan("fanout", [("all", [], servers)], 3)])


def layered(layers: int = 5, per_layer: int = 4, servers_per_wave: int = 50) -> Shape:
    """Tiers of parallel waves, each tier after the whole previous one (20 waves x 50 = 1,000 servers)."""
    layout = []
    for layer in range(layers):
        previous = [f"t{layer - 1}w{i}" for i in range(per_layer)] if layer else []
        layout += [(f"t{layer}w{i}", previous, servers_per_wave) for i in range(per_layer)]
    total = layers * per_layer * servers_per_wave
    return _shape(
        f"plan-{total}", f"{layers * per_layer} waves in {layers} tiers, {total} servers", [_plan("big", layout, 4)]
    )


def concurrent(executions: int = 10, servers_per_wave: int = 12) -> Shape:
    """Executions started together that compete for the account's DRS capacity."""
    plans = [diamond(servers_per_wave, f"team{i}", 10 + i) for i in range(executions)]
    total = executions * 5 * servers_per_wave
    return _shape(f"concurrent-{executions}", f"{executions} diamond plans at once, {total} servers", plans)


def suite(quick: bool = False) -> list[Shape]:
    """Every shape, smaller ones first; `quick` scales the 1,000-server ones down and leaves the larger ones out."""
    shapes = [chain(), _shape("diamond-5", "5-wave diamond A -> (B, C, D) -> E, 10 servers per wave", [diamond()])]
    shapes.append(fan_out(250))
    shapes.append(layered(5, 4, 10 if quick else 50))
    shapes.append(concurrent(10, 4 if quick else 12))
    if not quick:
        shapes.append(layered(8, 5, 50))  # 2,000 servers in 40 waves: x2 the servers of plan-1000
        shapes.append(layered(5, 4, 250))  # 5,000 servers in 20 waves of 250 (3 DRS jobs each)
    return shapes
