"""`/health-check/redis` and `/health-check/celery`: 200 when healthy, 503 with a reason."""

from __future__ import annotations

import time
from typing import Annotated, Any

import redis
import redis.exceptions
from celery.exceptions import TimeoutError as ResultTimeout
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app.api.deps import ApiContext, context
from app.core.queues import QueueName

router = APIRouter(prefix="/health-check", tags=["health"])
Context = Annotated[ApiContext, Depends(context)]
CANARY = "app.tasks.health.canary"


def reason_for(error: Exception, ctx: ApiContext) -> str:
    if isinstance(error, redis.exceptions.AuthenticationError):
        return "authentication failed"
    if isinstance(error, redis.exceptions.NoPermissionError):
        return "permission denied for the health user"
    if isinstance(error, redis.exceptions.TimeoutError):
        return f"no answer within {ctx.settings.redis_health_timeout_seconds}s"
    return ctx.safe(f"{type(error).__name__}: {error}")


def probe(url: str, ctx: ApiContext, *, persistence: bool) -> dict[str, Any]:
    timeout = ctx.settings.redis_health_timeout_seconds
    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
    )
    started = time.perf_counter()
    try:
        client.ping()
        report: dict[str, Any] = {"ok": True}
        if persistence:
            info = client.info("persistence")
            report["loading"] = bool(int(info.get("loading", 0)))
            report["aof_enabled"] = bool(int(info.get("aof_enabled", 0)))
            report["aof_last_write_status"] = info.get("aof_last_write_status")
            if report["loading"]:
                report.update(ok=False, reason="still loading its data")
            elif report["aof_enabled"] and report["aof_last_write_status"] != "ok":
                report.update(ok=False, reason="the last AOF write failed")
    except redis.exceptions.RedisError as error:
        report = {"ok": False, "reason": reason_for(error, ctx)}
    finally:
        client.close()
    report["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return report


def answer(checks: dict[str, Any]) -> JSONResponse:
    healthy = all(check.get("ok") for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/redis")
def redis_health(ctx: Context) -> JSONResponse:
    """Broker (PING + persistence through the monitor user) and cache (PING)."""
    return answer(
        {
            "broker": probe(ctx.settings.monitor_url, ctx, persistence=True),
            "cache": probe(ctx.settings.cache_url, ctx, persistence=False),
        }
    )


@router.get("/celery")
def celery_health(ctx: Context, queue: QueueName = QueueName.DEFAULT) -> JSONResponse:
    """Workers answer a ping and a canary task makes a real round trip through `queue`."""
    workers = check_workers(ctx)
    canary = (
        check_canary(ctx, queue)
        if workers["ok"]
        else {"ok": False, "reason": "skipped: no worker to run it"}
    )
    return answer({"workers": workers, "canary": canary})


def check_workers(ctx: Context) -> dict[str, Any]:
    timeout = min(ctx.settings.celery_health_timeout_seconds, 2.0)
    try:
        with ctx.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        replies = ctx.celery.control.ping(timeout=timeout)
    except Exception as error:
        return {"ok": False, "reason": "broker unreachable: " + ctx.safe(str(error))}
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return {"ok": False, "reason": f"no worker answered a ping within {timeout}s"}
    return {"ok": True, "count": len(names), "names": names}


def check_canary(ctx: Context, queue: QueueName) -> dict[str, Any]:
    timeout = ctx.settings.celery_health_timeout_seconds
    started = time.perf_counter()
    try:
        result = ctx.celery.send_task(CANARY, queue=queue.value)
        value = result.get(timeout=timeout, propagate=True)
    except ResultTimeout:
        return {"ok": False, "reason": f"canary task not completed within {timeout}s"}
    except Exception as error:
        return {"ok": False, "reason": "canary failed: " + ctx.safe(f"{type(error).__name__}")}
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return {"ok": True, "queue": queue.value, "worker": value["worker"], "round_trip_ms": elapsed}
