"""Ending the tasks that follow store watches (the node agent, the services controller, the service proxy)."""

from __future__ import annotations

import asyncio
import contextlib

from podrun.api.store import Watch


async def stop_following(watches: list[Watch], tasks: list[asyncio.Task[None]]) -> None:
    """Close the watches, cancel the tasks and wait until each has ended; both lists are left empty.

    Closing a watch ends its follower even when a cancellation is swallowed (a `wait_for` finishing at the same
    moment can do that on Python 3.11), which would otherwise leave it waiting for the next event forever.
    """
    for watch in watches:
        watch.close()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    watches.clear()
    tasks.clear()
