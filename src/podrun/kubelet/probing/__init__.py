"""Container probes as the kubelet runs them (Kubernetes v1.33/1.34, default gates; kubelet-semantics spec, §4).

Laid out as Go's `pkg/probe/{exec,tcp,http,grpc}` and `pkg/kubelet/prober`:

- `exec`, `tcp`, `http`, `grpc`: one handler each, returning an `outcome.ProbeOutcome`; `http` holds the
  HTTP/1.1 client that httpGet lifecycle hooks share, `grpc` the Health/Check client over h2.
- `target`: how a probe reaches the pod (the pod IP `POD_IP`, named ports, dialing through the runtime:
  a pod has only loopback).
- `prober`: `run_probe` (`prober.runProbe`) and `probe_with_retries` (`runProbeWithRetries`).
- `worker`: `ProbeWorker` (`worker.go`); `manager`: `ProbeManager` (`prober_manager.go`).
"""
