"""Helpers of `bench/compare.py`: podrun versus Podman's `kube play` on the same manifests.

* `common`: processes, time stamps, HTTP through a forwarded port, memory of processes.
* `podrun_side`: podrun's two front ends on temporary roots (`podrun serve` with kubectl, `podrun run`).
* `podman_side`: Podman installed and configured as the platform notes say, on an isolated storage.
* `features`: the feature table, established by running the same manifests under both tools.
* `report`: the table of medians and ratios, the JSON of raw numbers and the chart.
"""
