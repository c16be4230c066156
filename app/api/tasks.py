"""Submit each example task over HTTP and read its state, progress and result."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from celery.result import AsyncResult
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.deps import ApiContext, context

router = APIRouter(prefix="/tasks", tags=["tasks"])
Context = Annotated[ApiContext, Depends(context)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NoArguments(Strict):
    pass


class Arithmetic(Strict):
    operation: Literal["sum", "product", "min", "max"]
    operands: list[float] = Field(min_length=1, max_length=10_000)


class LongRunning(Strict):
    total_steps: int = Field(ge=1, le=100_000)
    step_seconds: float = Field(default=1.0, ge=0, le=60)


class ParseUpload(Strict):
    path: str = Field(min_length=1, max_length=255)


class FuzzyMatch(Strict):
    records: list[str] = Field(min_length=1, max_length=10_000)
    candidates: list[str] = Field(min_length=1, max_length=10_000)
    threshold: float = Field(default=80.0, ge=0, le=100)


class Report(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    rows: list[dict[str, str | int | float | bool | None]] = Field(min_length=1)
    fmt: Literal["csv", "xlsx"] = "csv"


class Cleanup(Strict):
    max_age_seconds: int | None = Field(default=None, ge=0)


class TaskKind(StrEnum):
    CHECK_REDIS = "check-redis"
    ARITHMETIC = "arithmetic"
    LONG_RUNNING = "long-running"
    PARSE_UPLOAD = "parse-upload"
    FUZZY_MATCH = "fuzzy-match"
    REPORT = "report"
    CLEANUP = "cleanup"


TASKS: dict[TaskKind, tuple[str, type[Strict]]] = {
    TaskKind.CHECK_REDIS: ("app.tasks.health.check_redis", NoArguments),
    TaskKind.ARITHMETIC: ("app.tasks.health.arithmetic", Arithmetic),
    TaskKind.LONG_RUNNING: ("app.tasks.health.long_running", LongRunning),
    TaskKind.PARSE_UPLOAD: ("app.tasks.files.parse_upload", ParseUpload),
    TaskKind.FUZZY_MATCH: ("app.tasks.matching.fuzzy_match", FuzzyMatch),
    TaskKind.REPORT: ("app.tasks.reports.generate_report", Report),
    TaskKind.CLEANUP: ("app.tasks.cleanup.cleanup_expired", Cleanup),
}


@router.post("/{kind}", status_code=202)
def submit(kind: TaskKind, ctx: Context, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate the arguments and queue the task; answers with its id and queue."""
    name, model = TASKS[kind]
    try:
        arguments = model.model_validate(body or {}).model_dump(exclude_unset=True)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in error.errors()
        ]
        raise HTTPException(status_code=422, detail=problems) from None
    result = ctx.celery.send_task(name, kwargs=arguments)
    queue = ctx.celery.amqp.router.route({}, name)["queue"].name
    return {"task_id": result.id, "task": name, "queue": queue, "state": "PENDING"}


@router.get("/{task_id}")
def status(task_id: str, ctx: Context) -> dict[str, Any]:
    """State of a task; PROGRESS carries current/total, FAILURE a message, SUCCESS the result."""
    try:
        uuid.UUID(task_id)
    except ValueError:
        raise HTTPException(status_code=422, detail="task_id must be a UUID") from None
    result = AsyncResult(task_id, app=ctx.celery)
    body: dict[str, Any] = {"task_id": task_id, "state": result.state}
    if result.state == "PROGRESS" and isinstance(result.info, dict):
        body["progress"] = {
            "current": result.info.get("current"),
            "total": result.info.get("total"),
        }
    elif result.state == "SUCCESS":
        body["result"] = result.result
    elif result.state in ("FAILURE", "RETRY"):
        error = result.info
        body["error"] = {"type": type(error).__name__, "message": ctx.safe(str(error))}
    return body
