"""Pod, ConfigMap and Secret validation, with the Kubernetes API server's exact field paths and wording.

A port of the parts of `pkg/apis/core/validation/validation.go` (ValidatePodCreate, ValidatePodUpdate,
ValidateConfigMap, ValidateSecret and what they call) and `pkg/api/pod/warnings.go` that a single-node
pod runtime meets, at the v1.33 feature defaults. Objects are v1 JSON dicts, already defaulted, as they are
when the API server validates them. Go walks maps in random order; here map keys are visited sorted.
Fields are validated only where Kubernetes validates them: for example a relative `mountPath` or an unknown
`emptyDir.medium` pass here, as they pass the real API server.
"""

from podrun.model.validation.config import validate_configmap, validate_secret
from podrun.model.validation.formats import is_label_value, is_qualified_name, name_is_dns_label, name_is_dns_subdomain
from podrun.model.validation.meta import validate_annotations, validate_labels
from podrun.model.validation.pod import validate_pod
from podrun.model.validation.updates import validate_pod_ephemeral_containers_update, validate_pod_update
from podrun.model.validation.warnings import pod_warnings

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
