"""Who is asking: a user and a role, signed with the deploy's SYNTH_IDENTITY_SECRET (HMAC-SHA256).

The deploy's proxy authenticates the person (oauth2-proxy or basic auth; deploy/README.md)
and adds three headers, which it also returns to the client:

    X-Synth-User: alice@example.org
    X-Synth-Role: requester            (or viewer)
    X-Synth-Signature: <hex HMAC-SHA256(secret, "synth-identity-v1\\n<user>\\n<role>")>

The webserver passes no header into a run, so the identity travels as the run's tags
`synth/user`, `synth/role`, `synth/signature` (the GraphQL client copies them; the intake and
standing-request sensors sign the identity of the prefix a request was dropped under). The
code location checks them in the steps that file or run a request: with the secret set, a run
without a valid signature, with a role that may not launch, or whose request names another
requester is refused. Without the secret nothing is checked (the embedded demo).

The signature binds user and role, not a time: it is a bearer credential of that user, as a
session cookie is. Rotate the secret to revoke every signature at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from synth_pipelines.core.request import RequestError

ROLES = ("requester", "viewer")
LAUNCH_ROLES = ("requester",)
USER_TAG, ROLE_TAG, SIGNATURE_TAG = "synth/user", "synth/role", "synth/signature"
USER_HEADER, ROLE_HEADER, SIGNATURE_HEADER = "X-Synth-User", "X-Synth-Role", "X-Synth-Signature"
HEADER_TAGS = {USER_HEADER: USER_TAG, ROLE_HEADER: ROLE_TAG, SIGNATURE_HEADER: SIGNATURE_TAG}
# One path segment: a user names its own prefix incoming/<user>/ in the request store.
_USER = re.compile(r"[^/\s.][^/\s]{0,199}")


@dataclass(frozen=True)
class Identity:
    user: str
    role: str

    def __post_init__(self) -> None:
        if not _USER.fullmatch(self.user):
            raise RequestError([(USER_TAG, "must be 1-200 characters, no '/' or spaces, not starting with '.'")])
        if self.role not in ROLES:
            raise RequestError([(ROLE_TAG, f"{self.role!r} is not a role; allowed: {', '.join(ROLES)}")])

    @property
    def may_launch(self) -> bool:
        return self.role in LAUNCH_ROLES


def signature(identity: Identity, secret: str) -> str:
    message = f"synth-identity-v1\n{identity.user}\n{identity.role}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_tags(identity: Identity, secret: str) -> dict[str, str]:
    """The run tags that carry `identity`, signed (what the sensors add, and what the proxy's headers become)."""
    return {USER_TAG: identity.user, ROLE_TAG: identity.role, SIGNATURE_TAG: signature(identity, secret)}


def tags_from_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The identity headers the proxy returned, as run tags (empty when it returned none)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    tags = {tag: lowered[header.lower()] for header, tag in HEADER_TAGS.items() if header.lower() in lowered}
    return tags if len(tags) == len(HEADER_TAGS) else {}


def verified_identity(tags: Mapping[str, str], secret: str) -> Identity | None:
    """The run's identity from its tags, checked against the secret; None when no secret is set.

    RequestError names the tag: missing, malformed, or a signature that does not match.
    """
    if not secret:
        return None
    missing = [tag for tag in (USER_TAG, ROLE_TAG, SIGNATURE_TAG) if not tags.get(tag)]
    if missing:
        raise RequestError(
            [
                (
                    tag,
                    "is missing: this deploy requires a signed identity (the proxy's X-Synth-User, X-Synth-Role and "
                    "X-Synth-Signature headers, passed as run tags synth/user, synth/role, synth/signature)",
                )
                for tag in missing
            ]
        )
    identity = Identity(tags[USER_TAG], tags[ROLE_TAG])
    if not hmac.compare_digest(signature(identity, secret), tags[SIGNATURE_TAG]):
        raise RequestError(
            [(SIGNATURE_TAG, f"does not match {USER_TAG} and {ROLE_TAG}: the identity was not signed by this deploy")]
        )
    return identity


def check_may_file(request_requester: str, identity: Identity | None) -> None:
    """Refuse a viewer, and a request in someone else's name; nothing to check without an identity."""
    if identity is None:
        return
    if not identity.may_launch:
        raise RequestError(
            [(ROLE_TAG, f"{identity.user!r} has role {identity.role!r}, which may not launch runs; allowed: requester")]
        )
    if request_requester != identity.user:
        raise RequestError(
            [
                (
                    "requester",
                    f"{request_requester!r} is not the authenticated user {identity.user!r}; "
                    "a request is filed in its sender's own name",
                )
            ]
        )


def prefix_owner(name: str) -> str | None:
    """`alice@x.org/r.json` (dropped under incoming/alice@x.org/) → `alice@x.org`; a top-level name → None."""
    return name.split("/", 1)[0] if "/" in name else None


def check_prefix(name: str, request_requester: str) -> None:
    """A request dropped under incoming/<owner>/ must name <owner> as its requester."""
    owner = prefix_owner(name)
    if owner is not None and owner != request_requester:
        raise RequestError(
            [
                (
                    "requester",
                    f"{request_requester!r} is not the owner of the prefix incoming/{owner}/ the request was dropped "
                    f"under; drop it under incoming/{request_requester}/ (each requester writes only their own prefix)",
                )
            ]
        )
