"""Media types on the wire: what a client accepts, what it sent, and how answers and warnings are written.

Kubernetes clients pick representations with Accept parameters: `application/json;as=Table;v=v1;g=meta.k8s.io`
asks for a server-side Table, `as=PartialObjectMetadata` for metadata only, and kubectl's typed clients put
`application/vnd.kubernetes.protobuf` first with JSON as the fallback. podrun speaks JSON and YAML.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from podrun.api import protobuf
from podrun.api.errors import ApiError, bad_request
from podrun.model import yaml_decode

TABLE = "Table"
METADATA = "PartialObjectMetadata"
METADATA_LIST = "PartialObjectMetadataList"
_META_GROUP = "meta.k8s.io"
_META_VERSIONS = ("v1", "v1beta1")
_NOT_ACCEPTABLE = "only the following media types are accepted: application/json, application/yaml"
_WARNINGS: ContextVar[list[str]] = ContextVar("podrun_api_warnings")
_TRUE = ("1", "t", "T", "true", "TRUE", "True")
# The API server's decoders stop at 10000 levels; podrun's patch and apply code recurses per level on Python's
# stack (1000 frames), so bodies are bounded far lower, still far above the deepest real object.
MAX_NESTING_DEPTH = 100
# Bodies above this size are decoded on a worker thread, so that one big body does not stall every other request
# (a 3 MiB YAML body takes seconds to parse); smaller ones cost less than the hand-off.
OFF_LOOP_BYTES = 64 * 1024
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"  # libyaml's own limit (1000 levels), above ours


@dataclass(frozen=True)
class MediaType:
    """One entry of an Accept or Content-Type header: `type/subtype` and its parameters."""

    type: str
    subtype: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class Output:
    """The representation to answer with: `json` or `yaml` objects, or a meta.k8s.io `Table` or
    `PartialObjectMetadata` (then `version` is its meta.k8s.io version)."""

    format: str
    as_kind: str = ""
    version: str = "v1"


def parse_media_types(header: str) -> list[MediaType]:
    """Every media type of a comma-separated header, in order, lower-cased, with its parameters."""
    types: list[MediaType] = []
    for part in header.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        full = pieces[0].lower()
        if not full:
            continue
        kind, _, subtype = full.partition("/")
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            if key and key.strip().lower() != "q":
                params[key.strip().lower()] = value.strip().strip('"')
        types.append(MediaType(kind, subtype or "*", params))
    return types


def accepts(request: web.BaseRequest, kind: str, subtype: str, params: Mapping[str, str]) -> bool:
    """Whether the Accept header lists exactly this media type with (at least) these parameters."""
    return any(
        media.type == kind and media.subtype == subtype and all(media.params.get(k) == v for k, v in params.items())
        for media in parse_media_types(request.headers.get("Accept", ""))
    )


def negotiate(request: web.BaseRequest) -> Output:
    """The first representation in the client's Accept list that podrun can produce; 406 when there is none."""
    entries = parse_media_types(request.headers.get("Accept", ""))
    if not entries:
        return Output("json")
    for media in entries:
        as_kind = media.params.get("as", "")
        if media.type == "application" and media.subtype == "json" and as_kind:
            if as_kind in (TABLE, METADATA, METADATA_LIST) and media.params.get("g") == _META_GROUP:
                version = media.params.get("v", "")
                if version in _META_VERSIONS:
                    return Output("json", as_kind, version)
            continue
        if (media.type, media.subtype) in (("application", "json"), ("application", "*"), ("*", "*")):
            return Output("json")
        if (media.type, media.subtype) == ("application", "yaml"):
            return Output("yaml")
    raise ApiError(406, "NotAcceptable", _NOT_ACCEPTABLE)


def truthy(value: str) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it (`1`, `true`, ...)."""
    return value in _TRUE


def int_query(request: web.BaseRequest, key: str) -> int | None:
    """An integer query parameter, None when absent; 400 when it is not a number."""
    value = request.query.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f'invalid value for {key}: parsing "{value}": invalid syntax') from None


def encode_json(obj: Any) -> bytes:
    """Compact JSON with a trailing newline, as the API server's encoder writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def json_response(obj: Any, *, status: int = 200, content_type: str = "application/json") -> web.Response:
    """A JSON answer with an exact Content-Type (aiohttp would otherwise add a charset parameter after it)."""
    return web.Response(body=encode_json(obj), status=status, headers={"Content-Type": content_type})


def respond(obj: Any, output: Output, *, status: int = 200) -> web.Response:
    """An object in the negotiated format (a Table or metadata is already built by the caller)."""
    if output.format == "yaml":
        text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)
        return web.Response(body=text.encode(), status=status, headers={"Content-Type": "application/yaml"})
    content_type = "application/json"
    if output.as_kind:
        content_type = f"application/json;as={obj.get('kind', output.as_kind)};v={output.version};g={_META_GROUP}"
    return json_response(obj, status=status, content_type=content_type)


async def read_body(request: web.BaseRequest, kind: str) -> Any:
    """The request body, an object of `kind`, decoded by its Content-Type: JSON (also without a Content-Type),
    YAML, or the protobuf encoding of the kinds kubectl's typed clients send that way."""
    media = parse_media_types(request.headers.get("Content-Type", ""))
    raw = await request.read()
    if not media or (media[0].type, media[0].subtype) == ("application", "json"):
        return await decode_off_loop(raw, "json")
    if (media[0].type, media[0].subtype) == ("application", "yaml"):
        return await decode_off_loop(raw, "yaml")
    if f"{media[0].type}/{media[0].subtype}" == protobuf.CONTENT_TYPE:
        return protobuf.decode_object(raw, kind)
    raise unsupported_media_type(("application/json", "application/yaml", protobuf.CONTENT_TYPE))


async def decode_off_loop(raw: bytes, kind: str) -> Any:
    """`decode`, on a worker thread when the body is bigger than `OFF_LOOP_BYTES`."""
    if len(raw) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(decode, raw, kind)
    return decode(raw, kind)


def decode(raw: bytes, kind: str) -> Any:
    """JSON or YAML text as data; 400 BadRequest when it does not parse, nests deeper than `MAX_NESTING_DEPTH`, or
    (YAML) contains itself, aliases too much of itself or expands beyond the body limit (`podrun.model.yaml_decode`).
    """
    if not raw.strip():
        raise bad_request("the request body is empty")
    language = "YAML" if kind == "yaml" else "JSON"
    too_deep = bad_request(f"error decoding {language}: exceeded max depth of {MAX_NESTING_DEPTH}")
    try:
        data = json.loads(raw, parse_constant=_no_constant) if kind == "json" else yaml_decode.load(raw)
    except (ValueError, yaml.YAMLError) as error:
        if _LIBYAML_TOO_DEEP in str(error):
            raise too_deep from None
        raise bad_request(f"error decoding {language}: {error}") from None
    except RecursionError:
        raise too_deep from None
    if nesting_depth(data) > MAX_NESTING_DEPTH:
        raise too_deep
    return data


def _no_constant(name: str) -> Any:
    # Python's decoder takes NaN and Infinity, which JSON (and so every client reading them back) does not.
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def nesting_depth(data: Any) -> int:
    """How deeply objects and arrays nest in `data` (a scalar: 0), counted without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def unsupported_media_type(accepted: tuple[str, ...]) -> ApiError:
    """415 UnsupportedMediaType, naming what the endpoint takes."""
    message = f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}"
    return ApiError(415, "UnsupportedMediaType", message)


def collect_warnings() -> list[str]:
    """Start collecting the warnings of the request being served (each request runs in its own task)."""
    warnings: list[str] = []
    _WARNINGS.set(warnings)
    return warnings


def add_warning(text: str) -> None:
    """Send `Warning: 299 - "text"` with the answer to the request being served."""
    warnings = _WARNINGS.get(None)
    if warnings is not None and text not in warnings:
        warnings.append(text)


def warning_header(text: str) -> str:
    """A warning as the value of a `Warning` header, quoted as the API server quotes it."""
    return f"299 - {_quote(text)}"


def _quote(text: str) -> str:
    # k8s.io/apimachinery/pkg/util/net NewWarningHeader: printable text, escaped quotes and backslashes.
    clean = "".join(char if char.isprintable() else " " for char in text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'
