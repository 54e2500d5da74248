"""Upload ids: the landing key plus the first hex digits of the file's SHA-256.

The same bytes therefore always map to the same checksum, and a corrected file with new content
under the same name gets a new upload id.
"""

from __future__ import annotations

import hashlib

CHECKSUM_DIGITS = 12


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_id(landing_key: str, checksum: str) -> str:
    return f"{landing_key}@{checksum[:CHECKSUM_DIGITS]}"


def split_upload_id(value: str) -> tuple[str, str]:
    """(landing key, checksum prefix) of an upload id."""
    landing_key, sep, checksum = value.rpartition("@")
    if not sep or len(checksum) != CHECKSUM_DIGITS:
        raise ValueError(f"not an upload id: {value!r} (expected '<landing key>@<12 hex digits>')")
    return landing_key, checksum
