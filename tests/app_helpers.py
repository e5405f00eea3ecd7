"""Small readers shared by the AppTest page tests."""

from __future__ import annotations


def no_errors(at) -> None:
    """The run showed no exception and no st.error."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def button(at, label: str):
    """The one button whose label starts with ``label``."""
    (hit,) = [b for b in at.button if b.label.startswith(label)]
    return hit


def trainer(at):
    """Live Training's trainer of this session."""
    return at.session_state["lt_trainer"]


def status(at) -> str:
    """Live Training's status line ("step **n** / N · ...")."""
    return next(m.value for m in at.markdown if m.value.startswith("step **"))
