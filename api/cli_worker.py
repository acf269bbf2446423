"""``vigil worker``: relay the outbox and deliver webhooks.

With ``VIGIL_REDIS_URL`` set (or ``--redis``), an arq worker runs
``casework.worker.WorkerSettings``; start as many as needed. Without Redis, an
in-process asyncio worker relays and delivers with the same job functions (the
embedded default). ``--burst`` does what is due now and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from typing import Any


def cmd_worker(args: argparse.Namespace) -> int:
    redis_url = args.redis or os.environ.get("VIGIL_REDIS_URL", "").strip()
    if redis_url and not args.in_process:
        from arq import run_worker

        if args.database_url:
            # the arq worker's startup opens the store from the environment
            os.environ["VIGIL_DATABASE_URL"] = args.database_url
        from casework.worker import WorkerSettings, redis_settings

        run_worker(WorkerSettings, redis_settings=redis_settings(redis_url), burst=args.burst)  # type: ignore[arg-type]
        return 0
    return asyncio.run(_in_process(args.burst, args.database_url))


async def _in_process(burst: bool, database_url: str | None) -> int:
    from casework.db import create_engine
    from casework.worker import drain, run_in_process

    engine = create_engine(database_url)
    ctx: dict[str, Any] = {"engine": engine}
    try:
        if burst:
            tries = await drain(ctx)
            print(f"made {tries} delivery tries")
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        print("in-process worker: relaying the outbox and delivering webhooks (Ctrl-C stops)")
        await run_in_process(ctx, stop)
        return 0
    finally:
        engine.dispose()


def add_commands(sub: Any) -> None:
    """Register ``vigil worker`` on the ``vigil`` sub-command parser."""
    p = sub.add_parser("worker", help="relay the outbox and deliver webhooks (arq on Redis, else in-process)")
    p.add_argument("--redis", help="Redis URL for arq (default: VIGIL_REDIS_URL; unset: in-process)")
    p.add_argument("--database-url", help="database URL (default: VIGIL_DATABASE_URL, else the SQLite file)")
    p.add_argument("--in-process", action="store_true", help="the in-process worker even if Redis is set")
    p.add_argument("--burst", action="store_true", help="do what is due now, then exit")
    p.set_defaults(func=cmd_worker)
