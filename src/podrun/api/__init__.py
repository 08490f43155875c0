"""podrun's Kubernetes-compatible API layer: the object store, selectors, patches and API errors."""
