"""Cluster DNS answers, asked of the resolver directly, as CoreDNS's kubernetes plugin gives them."""

from dnslib import RCODE, DNSRecord

from podrun.network.dns import ClusterResolver, DnsRecords, Endpoint, ServicePort, ServiceRecord

RECORDS = DnsRecords([
    ServiceRecord("shop", "web", "10.96.0.20", [ServicePort("http", 80)], [Endpoint("10.244.0.5")]),
    ServiceRecord("shop", "db", "None", [ServicePort("pg", 5432)],
                  [Endpoint("10.244.0.7", "db-0"), Endpoint("10.244.0.8")]),
])  # fmt: skip
RESOLVER = ClusterResolver(RECORDS)


def ask(name: str, qtype: str = "A") -> DNSRecord:
    return RESOLVER.resolve(DNSRecord.question(name, qtype), None)


def answers(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


def test_a_service_name_answers_its_cluster_ip_with_ttl_5() -> None:
    reply = ask("web.shop.svc.cluster.local")
    assert answers(reply) == ["10.96.0.20"]
    assert reply.rr[0].ttl == 5


def test_names_are_case_insensitive() -> None:
    assert answers(ask("WEB.Shop.svc.cluster.local.")) == ["10.96.0.20"]


def test_aaaa_of_an_existing_name_is_an_empty_noerror() -> None:
    reply = ask("web.shop.svc.cluster.local", "AAAA")
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.rr == []


def test_a_headless_service_answers_its_ready_endpoints() -> None:
    assert answers(ask("db.shop.svc.cluster.local")) == ["10.244.0.7", "10.244.0.8"]


def test_an_endpoint_hostname_under_a_headless_service_answers_its_pod() -> None:
    assert answers(ask("db-0.db.shop.svc.cluster.local")) == ["10.244.0.7"]


def test_srv_of_a_named_port_points_at_the_service() -> None:
    reply = ask("_http._tcp.web.shop.svc.cluster.local", "SRV")
    assert [(rr.rdata.port, str(rr.rdata.target)) for rr in reply.rr] == [(80, "web.shop.svc.cluster.local.")]
    assert answers(DNSRecord(rr=reply.ar)) == ["10.96.0.20"]


def test_srv_of_a_headless_service_names_each_endpoint() -> None:
    reply = ask("_pg._tcp.db.shop.svc.cluster.local", "SRV")
    assert sorted(str(rr.rdata.target) for rr in reply.rr) == [
        "10-244-0-8.db.shop.svc.cluster.local.", "db-0.db.shop.svc.cluster.local."]


def test_ptr_of_a_cluster_ip_names_the_service() -> None:
    assert answers(ask("20.0.96.10.in-addr.arpa", "PTR")) == ["web.shop.svc.cluster.local."]


def test_ptr_of_a_named_endpoint_names_its_pod() -> None:
    assert answers(ask("7.0.244.10.in-addr.arpa", "PTR")) == ["db-0.db.shop.svc.cluster.local."]


def test_a_pod_address_name_answers_that_address() -> None:
    assert answers(ask("10-244-0-9.shop.pod.cluster.local")) == ["10.244.0.9"]


def test_unknown_names_and_names_outside_the_cluster_are_nxdomain() -> None:
    for name in ("nope.shop.svc.cluster.local", "example.com", "9.9.9.9.in-addr.arpa"):
        assert ask(name).header.rcode == RCODE.NXDOMAIN, name


def test_update_replaces_the_snapshot() -> None:
    resolver = ClusterResolver(RECORDS)
    resolver.update(DnsRecords([]))
    assert resolver.resolve(DNSRecord.question("web.shop.svc.cluster.local"), None).header.rcode == RCODE.NXDOMAIN
