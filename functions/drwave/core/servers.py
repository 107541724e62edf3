"""Which source servers a wave launches: explicit ids plus tag selectors resolved against DRS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from drwave.core import messages as m
from drwave.models.plan import ProtectionGroup


class TaggedServer(Protocol):
    """A source server as far as selection needs it."""

    @property
    def source_server_id(self) -> str: ...

    @property
    def tags(self) -> dict[str, str]: ...


def resolve_wave_servers(
    wave_id: str, groups: Sequence[ProtectionGroup], inventory: Sequence[TaggedServer], chunk_size: int
) -> m.ServersResolved | m.ResolutionFailed:
    """Union of the groups' servers in plan order, without duplicates; a group selecting nothing fails the wave."""
    chosen: dict[str, None] = {}
    for group in groups:
        if group.source_server_ids is not None:
            ids = group.source_server_ids
        else:
            ids = [s.source_server_id for s in inventory if group.selects(s.tags)]
        if not ids:
            return m.ResolutionFailed(wave_id, f"protection group {group.id} matched no source servers")
        chosen.update(dict.fromkeys(ids))
    return m.ServersResolved(wave_id, list(chosen), chunk_size)
