"""What every test shares: apps opened in tests draw no animations.

Textual's pilot waits for running animations after every key (a tab's underline slides for ~0.3 s); the
tests judge what a key leads to, not how it slides there, so apps made in tests start with animations
off (`TEXTUAL_ANIMATIONS=none`, the setting a user has too). Issue 31: test time.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_animations(monkeypatch):
    import textual.constants

    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")
