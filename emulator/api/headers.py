"""Request headers that carry operation arguments, parsed into typed values: the `Content-Range`
and `X-Appwrite-ID` of a chunked deployment upload."""

from __future__ import annotations

import re

from emulator.backend.uploads import ContentRange
from emulator.errors import GeneralArgumentInvalid, StorageInvalidContentRange
from emulator.validators import UID, is_key

_RANGE = re.compile(r"^(\w+) (\d+)-(\d+)/(\d+)$")


def parse_content_range(header: str | None) -> ContentRange | None:
    """`<unit> START-END/SIZE` with START <= END <= SIZE (END == SIZE is the 1.3 SDKs' last-part
    form). An empty header is no header, as in 1.3.

    Raises:
        StorageInvalidContentRange: the header is present but malformed.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if not match:
        raise StorageInvalidContentRange()
    start, end, size = (int(match.group(i)) for i in (2, 3, 4))
    if not start <= end <= size:
        raise StorageInvalidContentRange()
    return ContentRange(start, end, size)


def parse_upload_id(header: str | None, content_range: ContentRange | None) -> str | None:
    """The upload (deployment) ID a chunk continues; only read with a `Content-Range`, as in 1.3.

    Raises:
        GeneralArgumentInvalid: the header is not a valid ID. 1.3 uses it unchecked; here it
            names a folder, so it must be one.
    """
    if content_range is None or not header:
        return None
    if not is_key(header):
        raise GeneralArgumentInvalid(f"Invalid X-Appwrite-ID: {UID().description}")
    return header
