"""How many pods the node tears down at once: a bounded pool, taken in the order the pods asked.

Tearing a pod down is node work, not waiting on the app: `runc kill` and `runc delete` (Go processes), conmon's
exit, CNI DEL (two plugin processes), unmounting the namespaces, /dev/shm, the rootfs and the volumes, removing
cgroups. A hundred force-deleted pods done one after another took ~80 ms each, one core idle; all at once, a
hundred of each process would start together and the first pod would be gone only when nearly all are. A few per
core keep both cores busy and let pods go in the order they were deleted.
"""

from __future__ import annotations

import asyncio
import os

# Most of a teardown's wall time is waiting on a child process or an unmount, not on podrun's own CPU.
SLOTS_PER_CPU = 4


def default_limit() -> int:
    """The pool's size on this machine: `SLOTS_PER_CPU` per CPU."""
    return SLOTS_PER_CPU * (os.cpu_count() or 1)


class TeardownSlots:
    """At most `limit` pods torn down at once; the others wait, first come first served.

    A pod worker takes a slot when its termination stops waiting on the app (a kill without grace, or once
    nothing runs) and gives it back when the pod is finished, or when its sync fails or it is cancelled.
    """

    def __init__(self, limit: int | None = None) -> None:
        """`limit` defaults to `default_limit()`."""
        self._semaphore = asyncio.Semaphore(limit or default_limit())
        self.waiting = 0

    async def acquire(self) -> None:
        """Wait for a slot (FIFO among those waiting)."""
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1

    def release(self) -> None:
        """Give a slot back to the next pod waiting."""
        self._semaphore.release()
