"""POST /upload: multipart file upload, each file with optional Attachable metadata (reference §2.1)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from sandbox import faults, ops
from sandbox.ops import Change
from sandbox.state import Company

# QBO pairs `file_metadata_NN` (Attachable JSON) with `file_content_NN` (the bytes).
PART_NAME = re.compile(r"file_(metadata|content)_(\w+)")
MAX_FILE_BYTES = 100 * 1024 * 1024  # Intuit's documented attachment limit (100 MB)
# [U] Where the sandbox says a file can be fetched; it keeps the bytes but does not serve them.
DOWNLOAD_URI = "/v3/company/{realm}/download/{id}"
TOO_LARGE_TEXT = "The file is larger than the 100 MB QuickBooks allows."  # [U] wording


def _parts(content_type: str, body: bytes) -> list[Message]:
    # The stdlib MIME parser also takes the bare-LF bodies some clients (python-quickbooks) send.
    if "multipart/form-data" not in content_type.lower() or "boundary=" not in content_type.lower():
        raise faults.unsupported("Unsupported Operation: /upload takes multipart/form-data.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.compat32).parsebytes(head + body.lstrip(b"\r\n"))
    parts = message.get_payload() if message.is_multipart() else []
    return [p for p in parts if isinstance(p, Message)]


def _decoded(part: Message) -> bytes:
    raw = part.get_payload(decode=False)
    text = raw if isinstance(raw, str) else ""
    if str(part.get("Content-Transfer-Encoding", "")).lower() == "base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise faults.invalid_property("file_content", "The file content is not valid base64.") from None
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else text.encode()
    return data[:-1] if data.endswith(b"\n") else data


def upload(company: Company, content_type: str, body: bytes, changes: list[Change]) -> dict[str, Any]:
    """Each uploaded file becomes an Attachable; answered as `AttachableResponse` in part order."""
    metadata: dict[str, dict[str, Any]] = {}
    files: dict[str, tuple[Message, bytes]] = {}
    for part in _parts(content_type, body):
        found = PART_NAME.fullmatch(str(part.get_param("name", header="content-disposition") or ""))
        if found is None:
            continue
        kind, key = found.groups()
        if kind == "metadata":
            metadata[key] = _metadata(_decoded(part))
        else:
            files[key] = (part, _decoded(part))
    if not files:
        raise faults.required("file_content_01")
    answers = []
    for key, (part, data) in files.items():
        answers.append(_one(company, part, data, metadata.get(key, {}), changes))
    return {"AttachableResponse": answers}


def _metadata(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw.decode() or "{}", parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        raise faults.invalid_property("file_metadata", "The file metadata is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise faults.invalid_property("file_metadata", "The file metadata must be a JSON object.")
    return parsed


def _one(
    company: Company, part: Message, data: bytes, meta: dict[str, Any], changes: list[Change]
) -> dict[str, Any]:
    if len(data) > MAX_FILE_BYTES:
        return {"Fault": faults.business(TOO_LARGE_TEXT, "file_content").fault()}
    name = meta.get("FileName") or part.get_param("filename", header="content-disposition") or "attachment"
    body = {
        **{k: v for k, v in meta.items() if k not in ops.SERVER_FIELDS},
        "FileName": str(name),
        "ContentType": meta.get("ContentType") or part.get_content_type(),
    }
    try:
        saved = ops.create(company, "Attachable", body, changes=changes)
    except faults.QboError as error:
        return {"Fault": error.fault()}
    saved["Size"] = Decimal(len(data))
    saved["FileAccessUri"] = DOWNLOAD_URI.format(realm=company.realm_id, id=saved["Id"])
    saved["TempDownloadUri"] = f"{saved['FileAccessUri']}?token={saved['Id']}-{saved['SyncToken']}"
    company.files[saved["Id"]] = data
    return {"Attachable": saved}
