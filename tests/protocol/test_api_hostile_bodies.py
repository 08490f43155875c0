"""Bodies built to hurt the server: an alias bomb is a quick 400, and one big body never stalls other requests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from api_harness import Server

from podrun.api import wire

PODS = "/api/v1/namespaces/default/pods"
YAML = {"Content-Type": "application/yaml"}


def alias_bomb() -> bytes:
    """519 bytes that expand to 10**8 scalars when every alias is copied."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    return ("\n".join(lines) + "\n").encode()


def test_an_alias_bomb_is_a_bad_request(server: Server) -> None:
    answer = server.api("POST", PODS, alias_bomb(), headers=YAML)
    assert answer.status == 400
    status = answer.json()
    assert (status["kind"], status["reason"]) == ("Status", "BadRequest")
    assert status["message"] == "error decoding YAML: document contains excessive aliasing"


def test_healthz_answers_while_a_big_body_is_being_decoded(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    decoding, healthz_answered = threading.Event(), threading.Event()
    seen: list[bool] = []
    real_decode = wire.decode

    def decode_after_healthz(raw: bytes, kind: str) -> Any:
        decoding.set()
        # On the event loop this would block /healthz until the timeout, and record False.
        seen.append(healthz_answered.wait(timeout=30))
        return real_decode(raw, kind)

    monkeypatch.setattr(wire, "decode", decode_after_healthz)
    body = b"kind: Pod\n" + b"#" * (wire.OFF_LOOP_BYTES + 1) + b"\n"
    with ThreadPoolExecutor(1) as pool:
        create = pool.submit(server.api, "POST", PODS, body, YAML)
        assert decoding.wait(timeout=30)
        health = server.api("GET", "/healthz")
        healthz_answered.set()
        answer = create.result(timeout=60)
    assert (health.status, health.body) == (200, b"ok")
    assert seen == [True]
    assert answer.status == 422  # decoded, then found to be no valid pod
