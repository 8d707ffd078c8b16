"""The official NCIP 2.02 schema and the collected samples, read from ../shared/reference.

They are data for tests only; where the folder is absent the tests that need them skip
with the reason.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from lxml import etree

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "ncip"
SCHEMA = REFERENCE / "schemas" / "ncip_v2_02.xsd"
SAMPLES = REFERENCE / "samples"


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def schema() -> etree.XMLSchema:
    """The NCIP 2.02 schema (skips the test when ../shared is absent)."""
    if not SCHEMA.exists():
        pytest.skip(f"the NCIP 2.02 schema is not at {SCHEMA} (../shared/reference is absent)")
    return _schema()


def assert_valid(body: bytes) -> None:
    """Fail unless ``body`` is valid NCIP 2.02 (checked against the schema where
    ../shared is present; elsewhere only well-formed XML with an NCIPMessage root, so
    that tests of behaviour still run)."""
    document = etree.fromstring(body)
    if not SCHEMA.exists():
        assert etree.QName(document).localname == "NCIPMessage", body
        return
    checker = _schema()
    if not checker.validate(document):
        raise AssertionError(f"{checker.error_log}\n{body.decode()}")


def sample_files() -> list[Path]:
    """Every XML sample collected from other systems (empty when ../shared is absent)."""
    if not SAMPLES.exists():
        return []
    return sorted(SAMPLES.rglob("*.xml"))
