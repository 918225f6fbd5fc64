"""The official AsyncAPI 3.0.0 JSON Schema, from the @asyncapi/specs package on the npm registry.

Fetched over HTTPS with the standard library (no Node needed), checked against the registry's
published sha512 integrity, and cached under ~/.cache/kit-tests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from pathlib import Path

VERSION = "6.11.1"
TARBALL = f"https://registry.npmjs.org/@asyncapi/specs/-/specs-{VERSION}.tgz"
INTEGRITY = "sha512-A3WBLqAKGoJ2+6FWFtpjBlCQ1oFCcs4GxF7zsIGvNqp/klGUHjlA3aAcZ9XMMpLGE8zPeYDz2x9FmO6DSuKraQ=="
MEMBER = "package/schemas/3.0.0.json"


def load() -> dict:
    cache = Path(os.environ.get("KIT_TEST_CACHE", Path.home() / ".cache" / "kit-tests"))
    path = cache / f"asyncapi-specs-{VERSION}.tgz"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(TARBALL, timeout=60) as response:
            data = response.read()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if digest != INTEGRITY:
            raise RuntimeError(f"{TARBALL}: integrity mismatch")
        path.write_bytes(data)
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        assert member is not None
        return json.load(member)
