"""The zh-Hans catalog as committed (compiled in memory when set-up did not compile it)."""

from __future__ import annotations

import pytest

from pv import i18n


@pytest.fixture
def zh() -> None:
    """Tests that read Chinese output: the committed catalog must be the one in use."""
    with i18n.use("zh-Hans"):
        assert i18n.gettext("Adverse events") == "不良事件"
