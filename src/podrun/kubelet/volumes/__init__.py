"""A pod's volumes on disk, and the mounts each container gets, as the kubelet's volume plugins make them.

Layout (`makePodDataDirs`, `GetPodVolumeDir`): `<pod_dir>/{volumes,plugins}` (0750), and each volume at
`<pod_dir>/volumes/<plugin>/<name>`; hostPath volumes are used where they are.

What each plugin does (`pkg/volume/...`):
- emptyDir (`emptydir/empty_dir.go`): a 0777 directory; `medium: Memory` mounts a tmpfs sized by
  `calculateEmptyDirMemorySize`. Any other medium (HugePages) is not supported.
- hostPath (`hostpath/host_path.go`): no `..`, then `checkTypeInternal`.
- configMap, secret, downwardAPI, projected: the payload is computed first (`MakePayload`, `CollectData`,
  `collectData`), then the wrapped emptyDir is set up and the payload written with the atomic writer
  (`util/atomic_writer.go`). configMap wraps a disk emptyDir; secret, downwardAPI and projected wrap a
  `Memory` one, so they are tmpfs-backed. All four are mounted read-only (their `GetAttributes().ReadOnly`).
  A projected `serviceAccountToken` source is a token from the `PodHost` (`service_account_token`), bound to
  the pod; `clusterTrustBundle` sources are skipped: podrun has none.

Container mounts follow `makeMounts` (`pkg/kubelet/kubelet_pods.go`) and the termination-log file
`kuberuntime_container.go` (`makeMounts` there). A subPath is resolved, checked to stay inside its volume,
then opened component by component without following symlinks and bind-mounted from that descriptor to
`<pod_dir>/volume-subpaths/<volume>/<container>/<index>` (`pkg/volume/util/subpath/subpath_linux.go`), so a
symlink swapped in later cannot redirect the runtime's mount. fsGroup ownership, SELinux relabelling and
recursive read-only mounts are not done.

Mounting needs root: `mount(2)` and `umount2(2)` are called through `podrun.runtime.linux`.

Modules: `pod` (set up, update, tear down a pod's volumes), `container` (a container's mounts, the
termination log), `empty_dir`, `host_path`, `payload` (configMap, secret, downwardAPI, projected files),
`atomic_writer`, `subpath`, and the shared `spec`, `errors` and `fs`. The names the kubelet uses are
importable from the package itself.
"""

from podrun.kubelet.volumes.container import (
    container_mounts,
    mounts_etc_hosts,
    read_termination_message,
    termination_log_mount,
)
from podrun.kubelet.volumes.empty_dir import EMPTY_DIR_EVICTION_MESSAGE, empty_dir_usage, size_limit_exceeded
from podrun.kubelet.volumes.errors import VolumeSetupError
from podrun.kubelet.volumes.pod import VolumeUpdate, setup_pod_volumes, teardown_pod_volumes, update_pod_volumes

__all__ = [
    "EMPTY_DIR_EVICTION_MESSAGE",
    "VolumeSetupError",
    "VolumeUpdate",
    "container_mounts",
    "empty_dir_usage",
    "mounts_etc_hosts",
    "read_termination_message",
    "setup_pod_volumes",
    "size_limit_exceeded",
    "teardown_pod_volumes",
    "termination_log_mount",
    "update_pod_volumes",
]
