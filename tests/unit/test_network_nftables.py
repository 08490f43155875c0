"""The Service ruleset text, pinned by a golden file as kube-proxy's proxier_test.go pins its rules."""

from pathlib import Path

from podrun.network.nftables import ServiceRule, render

GOLDEN = Path(__file__).parent.parent / "golden" / "network" / "services.nft"


def test_ruleset_matches_the_golden_file() -> None:
    rules = [
        ServiceRule("shop", "web", "10.96.0.20", 80, port_name="http",
                    endpoints=[("10.244.0.6", 8080), ("10.244.0.5", 8080)]),
        ServiceRule("kube-system", "kube-dns", "10.96.0.10", 53, "UDP", "dns", [("10.244.0.9", 53)]),
        ServiceRule("shop", "empty", "10.96.0.30", 443),
    ]  # fmt: skip
    assert render(rules) == GOLDEN.read_text()


def test_replacing_the_table_is_one_transaction_that_never_flushes_the_ruleset() -> None:
    text = render([])
    assert text.splitlines()[:2] == ["add table ip podrun", "delete table ip podrun"]
    assert "flush ruleset" not in text


def test_endpoint_order_does_not_change_the_text() -> None:
    a = ServiceRule("ns", "s", "10.96.0.2", 80, endpoints=[("10.244.0.2", 80), ("10.244.0.3", 80)])
    b = ServiceRule("ns", "s", "10.96.0.2", 80, endpoints=[("10.244.0.3", 80), ("10.244.0.2", 80)])
    assert render([a]) == render([b])


def test_a_service_without_endpoints_is_rejected_not_dispatched() -> None:
    text = render([ServiceRule("ns", "s", "10.96.0.2", 80)])
    assert 'no-endpoint-services { 10.96.0.2 . tcp . 80 comment "ns/s/tcp/80" : goto reject-chain }' in text
    assert "service-ips {" not in text.split("add map", 1)[1].split("\n", 1)[1]
