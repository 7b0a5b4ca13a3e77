"""One typed settings object: every tunable described and bounded, read from RAG_* and from the CLI flags made from it."""
from __future__ import annotations

import pytest

from rag.cli import NAMED_FLAGS, build_parser, main, settings_from
from rag.settings import Settings


def test_every_setting_has_a_description_and_numbers_have_bounds():
    for name, field in Settings.model_fields.items():
        assert field.description, name
        if field.annotation in (int, float):
            kinds = {type(m).__name__ for m in field.metadata}
            assert kinds & {"Ge", "Gt"} and kinds & {"Le", "Lt"}, name


def test_every_scalar_setting_is_a_flag_and_flags_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("RAG_CONTEXT_TOKEN_BUDGET", "300")
    monkeypatch.setenv("RAG_STRICT", "true")
    help_text = build_parser().format_help()
    for name, field in Settings.model_fields.items():
        if name not in NAMED_FLAGS and field.annotation != list[str]:
            assert "--" + name.replace("_", "-") in help_text, name
    assert settings_from(build_parser().parse_args(["docs"])).context_token_budget == 300
    args = build_parser().parse_args(["--context-token-budget", "400", "--strict", "false", "docs"])
    chosen = settings_from(args)
    assert chosen.context_token_budget == 400 and chosen.strict is False


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--context-token-budget", "5", "docs"], {}, "--context-token-budget"),
        (["--strict", "maybe", "docs"], {}, "--strict"),
        (["docs"], {"RAG_TOP_K": "0"}, "RAG_TOP_K"),
        (["search", "-k", "0", "question"], {}, "-k"),
    ],
)
def test_a_value_out_of_bounds_is_refused_naming_where_it_came_from(argv, env, named, index_dir, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["--index", str(index_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {named}:"), err
