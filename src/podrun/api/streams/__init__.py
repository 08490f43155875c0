"""The streaming subresources kubectl speaks to: exec, attach (WebSocket channels or SPDY) and port-forward (SPDY).

`exec.handle_exec` and `portforward.handle_portforward` are aiohttp handlers' bodies; the server layer resolves the
pod and passes a `backend.StreamBackend` that reaches the containers. Nothing is imported here: the WebSocket and
SPDY code loads with the first stream.
"""
