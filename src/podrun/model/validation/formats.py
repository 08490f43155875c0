"""Name and format checks of k8s.io/apimachinery/pkg/util/validation, with Kubernetes' exact messages."""

from __future__ import annotations

import ipaddress
import re

MAX_INT32 = 2**31 - 1


_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"


_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"


_LABEL_UNDERSCORE_FMT = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"


SUBDOMAIN_UNDERSCORE_FMT = _LABEL_UNDERSCORE_FMT + "(\\." + _LABEL_UNDERSCORE_FMT + ")*"


_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"


_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"


_CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"


HTTP_HEADER_NAME_FMT = "[-A-Za-z0-9]+"


_DNS_LABEL = re.compile(_LABEL_FMT)


_DNS_SUBDOMAIN = re.compile(_SUBDOMAIN_FMT)


DNS_SUBDOMAIN_UNDERSCORE = re.compile(SUBDOMAIN_UNDERSCORE_FMT)


_QUALIFIED_NAME = re.compile(_QUALIFIED_NAME_FMT)


_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)


_CONFIG_MAP_KEY = re.compile(_CONFIG_MAP_KEY_FMT)


HTTP_HEADER_NAME = re.compile(HTTP_HEADER_NAME_FMT)


_PORT_NAME_CHARSET = re.compile("[-a-z0-9]+")


_SYSCTL_SEGMENT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"


_LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)


_SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)


SUBDOMAIN_UNDERSCORE_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', "
    "and must start and end with an alphanumeric character"
)


_QUALIFIED_NAME_ERROR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)


_LABEL_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)


_CONFIG_MAP_KEY_ERROR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"


NEGATIVE = "must be greater than or equal to 0"


FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"


INVALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """Kubernetes' RegexError: the rule, examples, and the regex itself."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    """Kubernetes' MaxLenError."""
    return f"must be no more than {length} characters"


def inclusive_range_error(low: int, high: int) -> str:
    """Kubernetes' InclusiveRangeError."""
    return f"must be between {low} and {high}, inclusive"


def is_dns1123_label(value: str) -> list[str]:
    """Problems with `value` as an RFC 1123 label (container, port and volume names)."""
    errors = []
    if len(value.encode()) > 63:
        errors.append(max_len_error(63))
    if not _DNS_LABEL.fullmatch(value):
        if _DNS_SUBDOMAIN.fullmatch(value):
            errors.append("must not contain dots")
        else:
            errors.append(regex_error(_LABEL_ERROR, _LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """Problems with `value` as an RFC 1123 subdomain (object names)."""
    errors = []
    if len(value.encode()) > 253:
        errors.append(max_len_error(253))
    if not _DNS_SUBDOMAIN.fullmatch(value):
        errors.append(regex_error(_SUBDOMAIN_ERROR, _SUBDOMAIN_FMT, "example.com"))
    return errors


def is_qualified_name(value: str) -> list[str]:
    """Problems with `value` as a qualified name: a label key, `[prefix/]name`."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_ERROR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + message for message in is_dns1123_subdomain(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errors.append("name part " + max_len_error(63))
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append(
            "name part " + regex_error(_QUALIFIED_NAME_ERROR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_label_value(value: str) -> list[str]:
    """Problems with `value` as a label value."""
    errors = []
    if len(value.encode()) > 63:
        errors.append(max_len_error(63))
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(regex_error(_LABEL_VALUE_ERROR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def is_port_name(value: str) -> list[str]:
    """Problems with `value` as an IANA_SVC_NAME port name."""
    errors = []
    if len(value.encode()) > 15:
        errors.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.fullmatch(value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def is_port_number(value: int) -> list[str]:
    """Problems with `value` as a port number."""
    return [] if 1 <= value <= 65535 else [inclusive_range_error(1, 65535)]


def is_env_var_name(value: str) -> list[str]:
    """The relaxed rule (RelaxedEnvironmentVariableValidation): printable ASCII other than '='."""
    if not value:
        return ["environment variable name must be non-empty"]
    if any(not " " <= char <= "~" or char == "=" for char in value):
        return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]
    return []


def is_config_map_key(value: str) -> list[str]:
    """Problems with `value` as a ConfigMap or Secret key."""
    errors = []
    if len(value.encode()) > 253:
        errors.append(max_len_error(253))
    if not _CONFIG_MAP_KEY.fullmatch(value):
        errors.append(regex_error(_CONFIG_MAP_KEY_ERROR, _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        errors.append("must not be '.'")
    elif value == "..":
        errors.append("must not be '..'")
    elif value.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    """NameIsDNSSubdomain; a generateName prefix may end in '-'."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    """NameIsDNSLabel (namespaces); a generateName prefix may end in '-'."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def _mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def is_ip(value: str) -> bool:
    """netutils.ParseIPSloppy: IPv4 may have leading zeros."""
    octets = value.split(".")
    if len(octets) == 4 and all(octet.isdigit() and octet.isascii() and int(octet) <= 255 for octet in octets):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "%" not in value
