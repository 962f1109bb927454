"""A request store on an S3 prefix: `incoming/`, `accepted/` and `rejected/` under s3://bucket/prefix/.

Same contract as LocalRequestStore; a "move" is a put of the new object followed by the
delete of the old one, so a crash between the two leaves the request in both places and
intake sees it again (a duplicate of an accepted request is refused, never run twice).
"""

from __future__ import annotations

import json
from typing import Any

from synth_pipelines.core.request import SynthesisRequest
from synth_pipelines.core.uris import split_s3_uri
from synth_pipelines.intake.requests import check_request_size, rejection, request_bytes, visible_name


class S3RequestStore:
    def __init__(self, url: str, client: Any):
        self.url = url.rstrip("/")
        self.bucket, self.prefix = split_s3_uri(url, what="SYNTH_REQUEST_STORE_URL", key_required=False)
        self.client = client

    def _key(self, folder: str, name: str = "") -> str:
        return "/".join(p for p in (self.prefix, folder, name) if p)

    def _names(self, folder: str, prefixes: bool = False) -> list[str]:
        """Object names in `folder`; with `prefixes` also `<requester>/<name>` one level down."""
        names, prefix = [], self._key(folder) + "/"
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if name and name.count("/") <= int(prefixes) and not name.endswith("/") and visible_name(name):
                    names.append(name)
        return sorted(names)

    def _get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")

    def incoming(self) -> list[str]:
        return self._names("incoming", prefixes=True)

    def read_incoming(self, name: str) -> bytes:
        key = self._key("incoming", name)
        check_request_size(name, self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        return self._get(key)

    def put_incoming(self, name: str, data: bytes) -> None:
        self._put(self._key("incoming", name), data)

    def accept(self, name: str, request: SynthesisRequest) -> None:
        self.put_accepted(request)
        self.client.delete_object(Bucket=self.bucket, Key=self._key("incoming", name))

    def reject(self, name: str, problems: list[dict[str, str]]) -> None:
        target, error = rejection(name, problems)
        self._put(self._key("rejected", target + ".error.json"), error)
        self.client.copy_object(
            Bucket=self.bucket,
            Key=self._key("rejected", target),
            CopySource={"Bucket": self.bucket, "Key": self._key("incoming", name)},
        )
        self.client.delete_object(Bucket=self.bucket, Key=self._key("incoming", name))

    def accepted(self) -> list[str]:
        return [n.removesuffix(".json") for n in self._names("accepted") if n.endswith(".json")]

    def _read_request(self, folder: str, request_id: str) -> bytes | None:
        try:
            return self._get(self._key(folder, f"{request_id}.json"))
        except self.client.exceptions.NoSuchKey:
            return None

    def read_accepted(self, request_id: str) -> bytes | None:
        return self._read_request("accepted", request_id)

    def put_accepted(self, request: SynthesisRequest) -> None:
        self._put(self._key("accepted", f"{request.request_id}.json"), request_bytes(request))

    def rejected_errors(self) -> list[dict]:
        return [
            json.loads(self._get(self._key("rejected", n)))
            for n in self._names("rejected", prefixes=True)
            if n.endswith(".error.json")
        ]

    def put_standing(self, name: str, request: SynthesisRequest) -> None:
        self._put(self._key("standing", f"{request.request_id}.json"), request_bytes(request))
        self.client.delete_object(Bucket=self.bucket, Key=self._key("incoming", name))

    def standing(self) -> list[str]:
        return [n.removesuffix(".json") for n in self._names("standing") if n.endswith(".json")]

    def read_standing(self, request_id: str) -> bytes | None:
        return self._read_request("standing", request_id)
