"""When a burst of pods has ended: the quiet moment `podrun serve` hands freed memory back to the system.

A hundred pods leave a few MiB of free pages in glibc's heap once they are gone (their objects, the requests
that made and watched them, the node's work); the minutely sweep gives them back eventually, this sooner, once
per burst and never per request.
"""

from __future__ import annotations

from dataclasses import dataclass

# A drop by fewer pods frees too little to be worth a trim (a trim of a large heap costs a few ms).
BURST_PODS = 10
# Seconds between looks at the pod count.
CHECK_INTERVAL = 5.0


@dataclass
class BurstEnd:
    """Follows the pod count; `observe` says when it has fallen to a quarter of its peak by at least `burst` pods
    and stayed there for one look (the node is done tearing the pods down by then, mostly)."""

    burst: int = BURST_PODS
    _peak: int = 0
    _last: int = 0

    def observe(self, pods: int) -> bool:
        """Note the current pod count; True once per burst, at the look after it ended."""
        settled, self._last = pods == self._last, pods
        self._peak = max(self._peak, pods)
        ended = settled and self._peak - pods >= self.burst and pods <= self._peak // 4
        if ended:
            self._peak = pods
        return ended
