"""REST routes of drill schedules, failover triggers and drill freshness, on the API function's resolver.

Imported by drwave.handlers.api (which owns the resolver, the caller's claims and the error envelope).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from drwave.engine.ports import default_dependencies
from drwave.handlers import api
from drwave.handlers.api import Id, _caller, _json, app
from drwave.models.triggers import DrillSchedule, FailoverTrigger

if TYPE_CHECKING:
    from drwave.control.triggers import TriggerControl


def _triggers() -> TriggerControl:
    # Cold start: only these routes need the trigger control plane (schedule and trigger rules, Scheduler, their
    # store), so the API function imports it when one of them is first called.
    from drwave.control.triggers import TriggerControl  # noqa: PLC0415

    return TriggerControl(api._deps or default_dependencies())


@app.get("/drill-schedules", summary="List drill schedules with their next firing")
def list_schedules() -> Response[str]:
    return _json(200, {"items": _triggers().list_schedules(_caller())})


@app.post("/drill-schedules", summary="Create a drill schedule (an EventBridge Scheduler schedule; DRILL only)")
def create_schedule(schedule: Annotated[DrillSchedule, Body()]) -> Response[str]:
    return _json(201, _triggers().put_schedule(_caller(), schedule.to_wire()))


@app.get("/drill-schedules/<schedule_id>", summary="Get a drill schedule")
def get_schedule(schedule_id: Id) -> Response[str]:
    return _json(200, _triggers().get_schedule(_caller(), schedule_id))


@app.put("/drill-schedules/<schedule_id>", summary="Replace a drill schedule")
def update_schedule(schedule_id: Id, schedule: Annotated[DrillSchedule, Body()]) -> Response[str]:
    return _json(200, _triggers().put_schedule(_caller(), schedule.to_wire(), schedule_id))


@app.delete("/drill-schedules/<schedule_id>", summary="Delete a drill schedule and its Scheduler schedule")
def delete_schedule(schedule_id: Id) -> Response[str]:
    return _json(200, _triggers().delete_schedule(_caller(), schedule_id))


@app.get("/failover-triggers", summary="List failover triggers with their alarms' last seen states")
def list_triggers() -> Response[str]:
    return _json(200, {"items": _triggers().list_triggers(_caller())})


@app.post("/failover-triggers", summary="Create a failover trigger (always created disarmed)")
def create_trigger(trigger: Annotated[FailoverTrigger, Body()]) -> Response[str]:
    return _json(201, _triggers().put_trigger(_caller(), trigger.to_wire()))


@app.get("/failover-triggers/<trigger_id>", summary="Get a failover trigger")
def get_trigger(trigger_id: Id) -> Response[str]:
    return _json(200, _triggers().get_trigger(_caller(), trigger_id))


@app.put("/failover-triggers/<trigger_id>", summary="Replace a failover trigger (keeps its arming)")
def update_trigger(trigger_id: Id, trigger: Annotated[FailoverTrigger, Body()]) -> Response[str]:
    return _json(200, _triggers().put_trigger(_caller(), trigger.to_wire(), trigger_id))


@app.delete("/failover-triggers/<trigger_id>", summary="Delete a failover trigger")
def delete_trigger(trigger_id: Id) -> Response[str]:
    return _json(200, _triggers().delete_trigger(_caller(), trigger_id))


@app.post("/failover-triggers/<trigger_id>/arm", summary="Arm a failover trigger (admin; audited)")
def arm_trigger(trigger_id: Id) -> Response[str]:
    return _json(200, _triggers().arm(_caller(), trigger_id, armed=True))


@app.post("/failover-triggers/<trigger_id>/disarm", summary="Disarm a failover trigger (admin; audited)")
def disarm_trigger(trigger_id: Id) -> Response[str]:
    return _json(200, _triggers().arm(_caller(), trigger_id, armed=False))


@app.get("/trigger-audit", summary="Audit trail of schedule and trigger changes, arming and disarming")
def trigger_audit() -> Response[str]:
    return _json(200, {"items": _triggers().audit_trail(_caller())})


@app.get("/recovery-plans/<plan_id>/drill-freshness", summary="Age of the plan's last successful drill")
def drill_freshness(plan_id: Id) -> Response[str]:
    return _json(200, _triggers().freshness(_caller(), plan_id))
