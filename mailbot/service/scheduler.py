"""APScheduler wiring: timers only.  The database holds what is due.

Jobs have fixed ids and ``replace_existing=True``; ``misfire_grace_time`` is
``None`` and ``coalesce`` is on, so a job missed while the service was down
runs once when it comes back instead of being silently dropped (APScheduler
3.11's default grace of one second would drop it).  The jobs: the obligation
sweep, the outbox dispatch (also woken at once after each intake batch), the
reporting-cycle dates and the Secretariat's daily digest.  Nothing is lost
if a job never runs: the next sweep finds the same rows due.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from mailbot.service.runner import Service

log = logging.getLogger("mailbot.scheduler")

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


def build_scheduler(service: Service) -> Any:
    """An AsyncIOScheduler (on the running loop) with the desk's jobs; not yet started."""
    from mailbot.service.cycles import open_scheduled_cycles
    from mailbot.service.sweep import Sweeper

    policy = service.settings.policy
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    sweeper = Sweeper(service.app)

    def sweep() -> None:
        sweeper.sweep(service.clock())

    def digest() -> None:
        sweeper.digest(service.clock())

    def cycles() -> None:
        open_scheduled_cycles(service.app, service.clock())

    async def dispatch() -> None:
        await service.dispatch_all()

    scheduler.add_job(sweep, IntervalTrigger(seconds=policy.sweep_interval), id="sweep-obligations",
                      replace_existing=True, next_run_time=_soon())
    scheduler.add_job(dispatch, IntervalTrigger(seconds=policy.dispatch_interval),
                      id="dispatch-outbox", replace_existing=True)
    scheduler.add_job(cycles, IntervalTrigger(hours=1), id="cycle-dates", replace_existing=True,
                      next_run_time=_soon())
    scheduler.add_job(digest, CronTrigger(hour=policy.digest_hour, minute=0), id="daily-digest",
                      replace_existing=True)
    return scheduler


def _soon() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
