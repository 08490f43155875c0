"""podrun: Kubernetes Pods on one machine, with real containers and the kubelet's semantics."""

__version__ = "0.1.0"
