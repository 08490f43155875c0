"""The kubelet's /etc/resolv.conf and /etc/hosts for a pod (pkg/kubelet/network/dns/dns.go, kubelet_pods.go)."""

from __future__ import annotations

from dataclasses import dataclass, field

from podrun.json_types import JSON

MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048
DEFAULT_DNS_OPTIONS = ("ndots:5",)


@dataclass(frozen=True)
class ResolvConf:
    """The parts of a resolv.conf the kubelet writes."""

    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The file's text, in the kubelet's order: search, nameserver, options."""
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines.extend(f"nameserver {server}" for server in self.nameservers)
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)


def parse_resolv_conf(text: str) -> ResolvConf:
    """The nameservers, search domains and options of a resolv.conf (the host's, for dnsPolicy Default)."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            nameservers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            searches = [name.rstrip(".") for name in fields[1:] if name != "."]
        elif fields[0] == "options":
            options.extend(fields[1:])
    return ResolvConf(nameservers, searches, options)


def pod_resolv_conf(pod: JSON, host: ResolvConf, dns_ip: str, cluster_domain: str = "cluster.local") -> ResolvConf:
    """The pod's resolv.conf from its dnsPolicy and dnsConfig, as the kubelet's GetPodDNS computes it."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_network = bool(spec.get("hostNetwork"))
    if policy == "None":
        base = ResolvConf()
    elif dns_ip and (policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_network)):
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        cluster_searches = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
        base = ResolvConf([dns_ip], cluster_searches + host.searches, list(DEFAULT_DNS_OPTIONS))
    else:  # Default, ClusterFirst on the host network, or no cluster DNS: the host's resolver
        base = ResolvConf(list(host.nameservers), list(host.searches), list(host.options))
    merged = _append_dns_config(base, spec.get("dnsConfig") or {})
    return ResolvConf(merged.nameservers, _fit_search_limits(merged.searches), merged.options)


def _append_dns_config(base: ResolvConf, dns_config: JSON) -> ResolvConf:
    nameservers = _omit_duplicates(base.nameservers + list(dns_config.get("nameservers") or []))
    searches = _omit_duplicates(base.searches + list(dns_config.get("searches") or []))
    return ResolvConf(nameservers, searches, _merge_options(base.options, dns_config.get("options") or []))


def _merge_options(existing: list[str], overrides: list[JSON]) -> list[str]:
    """Options of dnsConfig replace options of the same name (mergeDNSOptions), keeping first-seen order."""
    merged: dict[str, str | None] = {}
    for text in existing:
        name, sep, value = text.partition(":")
        merged[name] = value if sep else None
    for override in overrides:
        name = override.get("name") or ""
        if name:
            given = override.get("value")
            merged[name] = None if given is None else str(given)
    return [name if value is None else f"{name}:{value}" for name, value in merged.items()]


def _fit_search_limits(searches: list[str]) -> list[str]:
    """Trim to the resolver's limits as the kubelet does (32 domains, 2048 characters)."""
    fitted = searches[:MAX_DNS_SEARCH_PATHS]
    while fitted and len(" ".join(fitted)) > MAX_DNS_SEARCH_LIST_CHARS:
        fitted = fitted[:-1]
    return fitted


def _omit_duplicates(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def pod_hosts_file(
    pod: JSON, pod_ips: list[str], cluster_domain: str = "cluster.local", hostname: str = ""
) -> str:
    """The kubelet's managed /etc/hosts (managedHostsFileContent): `hostname` (default: the pod's) at each address."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    hostname = hostname or spec.get("hostname") or metadata.get("name") or ""
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    subdomain = spec.get("subdomain")
    for ip in pod_ips:
        if subdomain:
            namespace = metadata.get("namespace") or "default"
            fqdn = f"{hostname}.{subdomain}.{namespace}.svc.{cluster_domain}"
            lines.append(f"{ip}\t{fqdn}\t{hostname}")
        else:
            lines.append(f"{ip}\t{hostname}")
    aliases = spec.get("hostAliases") or []
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        lines.extend(f"{alias['ip']}\t" + "\t".join(alias.get("hostnames") or []) for alias in aliases)
    return "".join(line + "\n" for line in lines)
