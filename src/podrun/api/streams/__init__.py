"""The streaming subresources kubectl speaks to: exec, attach (WebSocket channels or SPDY) and port-forward (SPDY).

`handle_exec` and `handle_portforward` are aiohttp handlers' bodies; the server layer resolves the pod and passes
a `StreamBackend` that reaches the containers.
"""

from podrun.api.streams.exec import ExecOptions, StreamBackend, StreamError, exit_status, handle_exec
from podrun.api.streams.portforward import handle_portforward

__all__ = ["ExecOptions", "StreamBackend", "StreamError", "exit_status", "handle_exec", "handle_portforward"]
