"""The kubelet's resolv.conf and /etc/hosts for pods, by dnsPolicy and dnsConfig."""

from podrun.network.resolv import ResolvConf, parse_resolv_conf, pod_hosts_file, pod_resolv_conf

HOST = parse_resolv_conf("# host\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n")


def pod(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "web", "namespace": "shop"}, "spec": dict(spec)}


def test_cluster_first_searches_the_namespace_then_the_cluster_then_the_host() -> None:
    conf = pod_resolv_conf(pod(), HOST, "10.96.0.10")
    assert conf.render() == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n"
    )


def test_cluster_first_on_the_host_network_uses_the_hosts_resolver() -> None:
    conf = pod_resolv_conf(pod(hostNetwork=True), HOST, "10.96.0.10")
    assert conf == ResolvConf(["192.0.2.53"], ["corp.example"], ["edns0"])


def test_cluster_first_with_host_net_uses_cluster_dns_on_the_host_network() -> None:
    conf = pod_resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), HOST, "10.96.0.10")
    assert conf.nameservers == ["10.96.0.10"]


def test_default_policy_copies_the_host() -> None:
    assert pod_resolv_conf(pod(dnsPolicy="Default"), HOST, "10.96.0.10").nameservers == ["192.0.2.53"]


def test_none_policy_takes_only_dns_config() -> None:
    dns_config = {"nameservers": ["1.2.3.4"], "searches": ["a.example"], "options": [{"name": "ndots", "value": "2"}]}
    conf = pod_resolv_conf(pod(dnsPolicy="None", dnsConfig=dns_config), HOST, "10.96.0.10")
    assert conf.render() == "search a.example\nnameserver 1.2.3.4\noptions ndots:2\n"


def test_dns_config_options_override_options_of_the_same_name() -> None:
    dns_config = {"options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]}
    conf = pod_resolv_conf(pod(dnsConfig=dns_config), HOST, "10.96.0.10")
    assert conf.options == ["ndots:1", "single-request"]


def test_duplicate_searches_and_nameservers_are_dropped() -> None:
    dns_config = {"nameservers": ["10.96.0.10"], "searches": ["cluster.local", "x.example"]}
    conf = pod_resolv_conf(pod(dnsConfig=dns_config), HOST, "10.96.0.10")
    assert conf.nameservers == ["10.96.0.10"]
    assert conf.searches[-2:] == ["corp.example", "x.example"]


def test_search_list_is_trimmed_to_32_domains() -> None:
    dns_config = {"searches": [f"d{i}.example" for i in range(40)]}
    assert len(pod_resolv_conf(pod(dnsConfig=dns_config), HOST, "10.96.0.10").searches) == 32


def test_hosts_file_names_the_pod_ip_after_the_pod() -> None:
    text = pod_hosts_file(pod(), ["10.244.0.5"])
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert text.endswith("fe00::2\tip6-allrouters\n10.244.0.5\tweb\n")


def test_hosts_file_with_subdomain_gives_the_fqdn_first() -> None:
    text = pod_hosts_file(pod(hostname="db-0", subdomain="db"), ["10.244.0.7"])
    assert text.endswith("10.244.0.7\tdb-0.db.shop.svc.cluster.local\tdb-0\n")


def test_hosts_file_appends_host_aliases() -> None:
    text = pod_hosts_file(pod(hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo", "bar"]}]), ["10.244.0.5"])
    assert text.endswith("10.244.0.5\tweb\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo\tbar\n")
