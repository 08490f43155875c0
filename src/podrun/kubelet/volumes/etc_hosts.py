"""The kubelet's managed /etc/hosts of a pod with addresses (`makeHostsMount`, `ensureHostsFile`)."""

from __future__ import annotations

import os
from pathlib import Path

from podrun.runtime.protocol import Mount

CONTAINER_PATH = "/etc/hosts"


def etc_hosts_mount(pod_dir: Path, text: str) -> Mount:
    """Write `<pod_dir>/etc-hosts` (replaced whole, so a container never reads half of it) and mount it.

    The sandbox's own hosts file is written before the pod has an address; like the kubelet, each container
    start writes the file again from the sandbox's addresses.
    """
    path = pod_dir / "etc-hosts"
    tmp = pod_dir / ".etc-hosts"
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    tmp.rename(path)
    return Mount(container_path=CONTAINER_PATH, host_path=str(path))
