"""Pod, ConfigMap and Secret validation, with the Kubernetes API server's exact field paths and wording.

A port of the parts of `pkg/apis/core/validation/validation.go` (ValidatePodCreate, ValidatePodUpdate,
ValidateConfigMap, ValidateSecret and what they call) and `pkg/api/pod/warnings.go` that a single-node
pod runtime meets, at the v1.33 feature defaults. Objects are v1 JSON dicts, already defaulted, as they are
when the API server validates them. Go walks maps in random order; here map keys are visited sorted.
Fields are validated only where Kubernetes validates them: for example a relative `mountPath` or an unknown
`emptyDir.medium` pass here, as they pass the real API server.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from podrun.model.validation.formats import is_label_value, is_qualified_name, name_is_dns_label, name_is_dns_subdomain
from podrun.model.validation.meta import validate_annotations, validate_labels

if TYPE_CHECKING:
    from podrun.model.validation.config import validate_configmap, validate_secret
    from podrun.model.validation.pod import validate_pod
    from podrun.model.validation.updates import validate_pod_ephemeral_containers_update, validate_pod_update
    from podrun.model.validation.warnings import pod_warnings

# The validators of whole objects load on first use: `podrun serve` imports this package for its name and label
# checks (selectors, Services), and an idle server validates no pod, ConfigMap or Secret.
_LAZY = {
    "validate_configmap": "config",
    "validate_secret": "config",
    "validate_pod": "pod",
    "validate_pod_ephemeral_containers_update": "updates",
    "validate_pod_update": "updates",
    "pod_warnings": "warnings",
}

__all__ = [
    "is_label_value",
    "is_qualified_name",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "pod_warnings",
    "validate_annotations",
    "validate_configmap",
    "validate_labels",
    "validate_pod",
    "validate_pod_ephemeral_containers_update",
    "validate_pod_update",
    "validate_secret",
]


def __getattr__(name: str) -> Any:
    """The lazily loaded validators (PEP 562): their module is imported when one is first looked up."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
