"""The pod network data plane: addresses and ranges, the pods' resolv.conf and /etc/hosts, Service rules, DNS."""
