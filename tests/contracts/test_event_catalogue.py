"""docs/events.md is generated from the models: every public event is there, and the internal commands are named."""

from __future__ import annotations

from drwave.models.events import PUBLISHED_EVENTS
from drwave_local.contracts import catalogue


def test_the_committed_catalogue_matches_the_models() -> None:
    # GIVEN the event models  WHEN the catalogue is rendered  THEN docs/events.md is identical
    assert catalogue.catalogue_drift() == [], "run `drwave schemas` and commit docs/events.md"


def test_every_published_detail_type_is_either_public_or_an_internal_command() -> None:
    assert catalogue.unclassified() == []


def test_the_catalogue_lists_every_public_event_with_its_fields_and_the_delivery_guarantees() -> None:
    text = catalogue.render_catalogue()
    for model in PUBLISHED_EVENTS:
        if model.DETAIL_TYPE in catalogue.PUBLIC:
            assert f"### {model.DETAIL_TYPE}\n" in text
        else:
            assert f"| {model.DETAIL_TYPE} |" in text and f"### {model.DETAIL_TYPE}\n" not in text
    assert "At least once" in text and "De-duplicate" in text
    assert "| `reason` |" in text  # Failover Suppressed's reason, with its values
    assert "`COOL_DOWN`" in text
