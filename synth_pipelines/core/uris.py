"""S3 URIs: the one parser for `s3://bucket/key` (datasets) and `s3://bucket[/prefix]` (stores)."""

from __future__ import annotations

from urllib.parse import urlparse

S3_SCHEME = "s3://"


def is_s3_uri(uri: str) -> bool:
    return uri.startswith(S3_SCHEME)


def split_s3_uri(uri: str, *, what: str, key_required: bool) -> tuple[str, str]:
    """'s3://bucket/some/key' -> ('bucket', 'some/key'); `what` names the field in the error."""
    parsed = urlparse(uri)
    key = parsed.path.strip("/") if not key_required else parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or (key_required and not key):
        allowed = "s3://bucket/key" if key_required else "s3://bucket[/prefix]"
        raise ValueError(f"{what} {uri!r} is not allowed; allowed: {allowed}")
    return parsed.netloc, key
