"""A pod's QoS class (`ComputePodQOS`): fixed at admission, shown in its status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podrun.json_types import JSON

if TYPE_CHECKING:
    from fractions import Fraction

_QOS_RESOURCES = ("cpu", "memory")


def qos_class(pod: JSON) -> str:
    """`BestEffort`, `Burstable` or `Guaranteed`, by `ComputePodQOS` over cpu and memory.

    Guaranteed needs every container (init ones included) to set both limits, and the pod's summed
    requests to equal its summed limits. A request left unset defaults to its limit, as API defaulting
    would have done.
    """
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        container_limits = _positive_quantities(resources.get("limits") or {})
        container_requests = _positive_quantities(
            {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        )
        _accumulate(requests, container_requests)
        _accumulate(limits, container_limits)
        guaranteed = guaranteed and all(name in container_limits for name in _QOS_RESOURCES)
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests.keys() == limits.keys() and all(limits[n] == q for n, q in requests.items()):
        return "Guaranteed"
    return "Burstable"


def _positive_quantities(resources: Mapping[str, Any]) -> dict[str, Fraction]:
    # The quantities (and decimal, fractions) load with the first pod that has one: an idle server holds none.
    from podrun.model.quantity import from_json

    parsed = {name: from_json(resources[name]).value for name in _QOS_RESOURCES if name in resources}
    return {name: quantity for name, quantity in parsed.items() if quantity > 0}


def _accumulate(total: dict[str, Fraction], extra: Mapping[str, Fraction]) -> None:
    for name, quantity in extra.items():
        total[name] = total[name] + quantity if name in total else quantity
