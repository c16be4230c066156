"""`/health-check/redis` and `/health-check/celery`: 200 when healthy, 503 with a reason.

Open to anyone (load balancers, probes), they then say only ok or not, and why not; a task API
client's token (app.api.auth) also gets the details: primaries, replicas, Sentinels, workers,
latencies."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated, Any

import redis
import redis.exceptions
from celery.exceptions import TimeoutError as ResultTimeout
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app.api import auth
from app.api.deps import ApiContext, context
from app.core import redis_endpoints
from app.core.queues import QueueName

router = APIRouter(prefix="/health-check", tags=["health"])
Context = Annotated[ApiContext, Depends(context)]
Requester = Annotated[str | None, Depends(auth.optional_client)]
CANARY = "app.tasks.health.canary"


def reason_for(error: Exception, ctx: ApiContext) -> str:
    if isinstance(error, redis.exceptions.AuthenticationError):
        return "authentication failed"
    if isinstance(error, redis.exceptions.NoPermissionError):
        return "permission denied for the health user"
    if isinstance(error, redis.exceptions.TimeoutError):
        return f"no answer within {ctx.settings.redis_health_timeout_seconds}s"
    return ctx.safe(f"{type(error).__name__}: {error}")


def probe(url: str, master: str, ctx: ApiContext, *, persistence: bool) -> dict[str, Any]:
    """PING (and, for the broker, persistence and replication) through the monitor user; with
    Sentinels, on the primary they name, and what the Sentinels see."""
    settings = ctx.settings
    timeout = settings.redis_health_timeout_seconds
    client = redis_endpoints.client(
        url,
        master=master,
        sentinel_kwargs=settings.sentinel_kwargs(),
        timeout=timeout,
        tls=settings.tls_options(),
    )
    started = time.perf_counter()
    try:
        client.ping()
        report: dict[str, Any] = {"ok": True}
        if persistence:
            report.update(persistence_report(client.info("persistence")))
            report.update(replication_report(client.info("replication")))
    except redis.exceptions.RedisError as error:
        report = {"ok": False, "reason": reason_for(error, ctx)}
    finally:
        client.close()
    report["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    if redis_endpoints.parse(url).sentinel:
        report["sentinels"] = sentinels_report(url, master, ctx)
    return report


def persistence_report(info: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {
        "loading": bool(int(info.get("loading", 0))),
        "aof_enabled": bool(int(info.get("aof_enabled", 0))),
        "aof_last_write_status": info.get("aof_last_write_status"),
    }
    if report["loading"]:
        report.update(ok=False, reason="still loading its data")
    elif report["aof_enabled"] and report["aof_last_write_status"] != "ok":
        report.update(ok=False, reason="the last AOF write failed")
    return report


def replication_report(info: dict[str, Any]) -> dict[str, Any]:
    """The instance's role and, on a primary, its replicas' link state."""
    replicas = [
        {"address": f"{value['ip']}:{value['port']}", "state": value["state"], "lag": value["lag"]}
        for key, value in sorted(info.items())
        if key.startswith("slave") and isinstance(value, dict)
    ]
    return {"role": info.get("role"), "replicas": replicas}


def sentinels_report(url: str, master: str, ctx: ApiContext) -> dict[str, Any]:
    """How many Sentinels answer, the primary they name, and whether they can fail over."""
    settings = ctx.settings
    answering, primaries, quorum = 0, set(), False
    for _address, sentinel in redis_endpoints.sentinel_clients(
        url,
        sentinel_kwargs=settings.sentinel_kwargs(),
        timeout=settings.redis_health_timeout_seconds,
    ):
        try:
            address = sentinel.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", master)
            answering += 1
            if address:
                primaries.add(":".join(str(part) for part in address))
            # A Sentinel that cannot reach a quorum answers CKQUORUM with an error (NOQUORUM).
            with contextlib.suppress(redis.exceptions.ResponseError):
                quorum = quorum or str(
                    sentinel.execute_command("SENTINEL", "CKQUORUM", master)
                ).startswith("OK")
        except redis.exceptions.RedisError:
            continue
        finally:
            sentinel.close()
    return {
        "answering": answering,
        "primary": sorted(primaries)[0] if len(primaries) == 1 else sorted(primaries),
        "failover_possible": quorum,
    }


def answer(checks: dict[str, Any], requester: str | None) -> JSONResponse:
    """200 or 503 with each check; for an anonymous request, only whether it is ok and why
    not (nothing about the topology or the workers' names)."""
    healthy = all(check.get("ok") for check in checks.values())
    if requester is None:
        checks = {
            name: {key: check[key] for key in ("ok", "reason") if key in check}
            for name, check in checks.items()
        }
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/redis")
def redis_health(ctx: Context, requester: Requester) -> JSONResponse:
    """Broker (PING + persistence + replication through the monitor user) and cache (PING).
    With Sentinels: on the primaries they name, plus what the Sentinels see."""
    settings = ctx.settings
    return answer(
        {
            "broker": probe(
                settings.monitor_url, settings.redis_sentinel_master, ctx, persistence=True
            ),
            "cache": probe(
                settings.cache_url, settings.cache_sentinel_master, ctx, persistence=False
            ),
        },
        requester,
    )


@router.get("/celery")
def celery_health(
    ctx: Context, requester: Requester, queue: QueueName = QueueName.DEFAULT
) -> JSONResponse:
    """Workers answer a ping and a canary task makes a real round trip through `queue`."""
    workers = check_workers(ctx)
    canary = (
        check_canary(ctx, queue)
        if workers["ok"]
        else {"ok": False, "reason": "skipped: no worker to run it"}
    )
    return answer({"workers": workers, "canary": canary}, requester)


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
