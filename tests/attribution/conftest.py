from __future__ import annotations

import pytest

from leaktrace.signatures import SignatureSet, load_signatures


@pytest.fixture(scope="session")
def signatures() -> SignatureSet:
    return load_signatures()
