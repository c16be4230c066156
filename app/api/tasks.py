"""Submit each example task over HTTP and read its state, progress and result."""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum
from typing import Annotated, Any

from celery.result import AsyncResult
from fastapi import APIRouter, Depends, HTTPException

from app.api import auth
from app.api.deps import ApiContext, context
from app.tasks import arguments
from app.tasks.arguments import InvalidArguments, TaskArguments

# Every route needs a client's token (app.api.auth): 401 without one.
logger = logging.getLogger(__name__)
router = APIRouter(prefix="/tasks", tags=["tasks"], dependencies=[Depends(auth.client)])
Context = Annotated[ApiContext, Depends(context)]
Client = Annotated[str, Depends(auth.client)]


class TaskKind(StrEnum):
    CHECK_REDIS = "check-redis"
    ARITHMETIC = "arithmetic"
    LONG_RUNNING = "long-running"
    PARSE_UPLOAD = "parse-upload"
    FUZZY_MATCH = "fuzzy-match"
    REPORT = "report"
    CLEANUP = "cleanup"


# Each kind's task and its arguments: the same model the worker checks the message with.
TASKS: dict[TaskKind, type[TaskArguments]] = {
    TaskKind.CHECK_REDIS: arguments.CheckRedis,
    TaskKind.ARITHMETIC: arguments.Arithmetic,
    TaskKind.LONG_RUNNING: arguments.LongRunning,
    TaskKind.PARSE_UPLOAD: arguments.ParseUpload,
    TaskKind.FUZZY_MATCH: arguments.FuzzyMatch,
    TaskKind.REPORT: arguments.Report,
    TaskKind.CLEANUP: arguments.Cleanup,
}


@router.post("/{kind}", status_code=202)
def submit(
    kind: TaskKind, ctx: Context, client: Client, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validate the arguments and queue the task; answers with its id and queue."""
    model = TASKS[kind]
    try:
        checked = model.check(body or {}, ctx.settings)
    except InvalidArguments as error:
        detail = [{"field": field, "problem": problem} for field, problem in error.problems]
        raise HTTPException(status_code=422, detail=detail) from None
    name = model.TASK
    result = ctx.celery.send_task(name, kwargs=checked)
    queue = ctx.celery.amqp.router.route({}, name)["queue"].name
    logger.info("task API: %s queued %s[%s] for client %s", kind.value, name, result.id, client)
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
