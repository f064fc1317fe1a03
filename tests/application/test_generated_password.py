"""The generated password's provider, called as the engine calls it: made once, kept on every later update."""

from __future__ import annotations

from components.password import PasswordProvider


def test_a_password_is_made_once_and_is_long() -> None:
    provider = PasswordProvider()
    first = provider.create({"purpose": "payments-db database", "value": None})
    second = provider.create({"purpose": "payments-db database", "value": None})
    assert first.outs is not None and second.outs is not None
    assert len(first.outs["value"]) >= 32
    assert first.outs["value"] != second.outs["value"]


def test_only_a_new_purpose_replaces_it_and_an_update_keeps_it() -> None:
    provider = PasswordProvider()
    made = provider.create({"purpose": "db", "value": None})
    assert made.outs is not None
    olds = dict(made.outs)
    same = provider.diff(made.id, olds, {"purpose": "db", "value": None, "__provider": "new code"})
    assert same.changes is False and same.replaces == []
    renamed = provider.diff(made.id, olds, {"purpose": "other", "value": None})
    assert renamed.changes is True and renamed.replaces == ["purpose"]
    kept = provider.update(made.id, olds, {"purpose": "db", "value": None})
    assert kept.outs is not None and kept.outs["value"] == olds["value"]
