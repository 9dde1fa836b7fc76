"""``rostra score``: formats, streaming, and every kind of bad input, through CliRunner.

The command builds its engine with ``rostra.cli.engine.build_engine``; these tests swap in an
engine of fakes, so they exercise the command and the real engine code without a model.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import rostra.cli.engine as cli_engine
from rostra.cli import main
from rostra.moderation.engine import MAX_CHARS, ModerationEngine
from rostra.testing import FakeExplainer, FakeScorer


def scores(text: str) -> dict[str, float]:
    return {"insult": 0.97, "toxicity": 0.95} if "idiot" in text else {"toxicity": 0.01}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str | None]]:
    calls: list[tuple[str | None, str | None]] = []

    def build(model_dir: str | None, tier: str | None) -> ModerationEngine:
        calls.append((model_dir, tier))
        engine = ModerationEngine(
            fast=FakeScorer(scores), explainer=FakeExplainer({"idiot": "insult"})
        )
        engine.load()
        return engine

    monkeypatch.setattr(cli_engine, "build_engine", build)
    return calls


def run(args: list[str], data: bytes | None = None):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["score", *args], input=data)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, lines


def test_text_lines_from_stdin(built) -> None:  # type: ignore[no-untyped-def]
    result, lines = run([], b"Thanks for this\nyou 1d10t\n")
    assert result.exit_code == 0
    assert [(o["id"], o["decision"]) for o in lines] == [(1, "approve"), (2, "reject")]
    assert set(lines[0]) >= {"id", "scores", "decision", "reasons"}
    reason = lines[1]["reasons"][0]
    assert {k: reason[k] for k in ("label", "start", "end", "text")} == {
        "label": "insult",
        "start": 4,
        "end": 9,
        "text": "1d10t",
    }


def test_jsonl_file_with_ids(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "comments.jsonl"
    path.write_text('{"id": "c1", "text": "fine"}\n\n{"text": "idiot"}\n', encoding="utf-8")
    result, lines = run([str(path)])
    assert result.exit_code == 0
    assert [(o["id"], o["decision"]) for o in lines] == [("c1", "approve"), (3, "reject")]


def test_csv_with_text_column_and_multiline_field(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "export.csv"
    path.write_text('id,author,text\n7,ann,"two\nlines"\n8,bob,idiot\n', encoding="utf-8")
    result, lines = run([str(path)])
    assert result.exit_code == 0
    assert [(o["id"], o["decision"]) for o in lines] == [("7", "approve"), ("8", "reject")]


def test_format_is_sniffed_from_the_first_line(built) -> None:  # type: ignore[no-untyped-def]
    _, lines = run([], b'{"id": 5, "text": "idiot"}\n')
    assert lines[0]["id"] == 5
    _, lines = run([], b"id,text\nx,hello\n")
    assert lines[0]["id"] == "x"
    _, lines = run(["--format", "text"], b"id,text\n")
    assert lines[0]["id"] == 1  # forced to plain text: the header is a comment


def test_tier_and_model_dir_reach_the_engine(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run(["--tier", "fast", "--model-dir", str(tmp_path)], b"hello\n")
    assert built == [(str(tmp_path), "fast")]


def test_bad_records_become_error_objects_and_the_rest_is_scored(built) -> None:  # type: ignore[no-untyped-def]
    data = b"\n".join(
        [
            b'{"id": 1, "text": "ok"}',
            b'{"id": 2, "text": ""}',  # empty
            b'{"id": 3, "text": "' + b"a" * (MAX_CHARS + 1) + b'"}',  # too long
            b'{"id": 4, "text": "\xff\xfe bad bytes"}',  # invalid UTF-8
            b'{"id": 5, "text": "broken',  # broken JSON
            b'{"id": 6, "body": "no text"}',  # missing field
            b'{"id": 7, "text": 42}',  # wrong type
            b"[1, 2]",  # not an object
            b'{"id": 9, "text": "' + b"b" * 1_100_000 + b'"}',  # a 1 MB line
            b'{"id": 10, "text": "idiot \\ud800"}',  # lone surrogate escape
            b'{"id": 11, "text": "last"}',
        ]
    )
    result, lines = run(["--format", "jsonl"], data)
    assert result.exit_code == 0
    assert len(lines) == 11
    codes = [o["error"]["code"] if "error" in o else o["decision"] for o in lines]
    assert codes == [
        "approve",
        "empty_text",
        "too_long",
        "invalid_utf8",
        "invalid_json",
        "missing_field",
        "invalid_field",
        "invalid_json",
        "too_long",
        "reject",
        "approve",
    ]
    assert lines[1] == {
        "line": 2,
        "id": 2,
        "error": {"code": "empty_text", "message": "the comment is empty"},
    }
    assert lines[4]["line"] == 5 and "id" not in lines[4]
    assert "3 scored, 8 with errors" in result.stderr


def test_bad_text_lines(built) -> None:  # type: ignore[no-untyped-def]
    data = b"fine\n\n\xc3\x28 broken\n" + b"z" * (MAX_CHARS + 5) + b"\nend\n"
    result, lines = run(["--format", "text"], data)
    assert result.exit_code == 0
    codes = [o["error"]["code"] if "error" in o else o["decision"] for o in lines]
    assert codes == ["approve", "empty_text", "invalid_utf8", "too_long", "approve"]


def test_bad_csv_records(built) -> None:  # type: ignore[no-untyped-def]
    data = b'id,text\n1,fine\n2,\n3,"\xff"\n4\n5,' + b"q" * 5_000_000 + b"\n6,idiot\n"
    result, lines = run(["--format", "csv"], data)
    assert result.exit_code == 0
    codes = [o["error"]["code"] if "error" in o else o["decision"] for o in lines]
    assert codes == ["approve", "empty_text", "invalid_utf8", "missing_field", "too_long", "reject"]


def test_broken_csv_quoting_is_reported_not_merged(built) -> None:  # type: ignore[no-untyped-def]
    # Text after a closing quote would become "idiotxyz"; a quote never closed would swallow
    # every record after it into one comment.
    data = b'id,text\n1,"idiot"xyz\n2,fine\n3,"never closed\n4,idiot\n5,fine\n'
    result, lines = run(["--format", "csv"], data)
    assert result.exit_code == 0
    assert [(o.get("line"), o["error"]["code"] if "error" in o else o["id"]) for o in lines] == [
        (2, "invalid_csv"),
        (None, "2"),
        (4, "invalid_csv"),
    ]
    assert "unexpected end of data" in lines[2]["error"]["message"]
    assert "1 scored, 2 with errors" in result.stderr


def test_csv_without_text_column_is_refused(built) -> None:  # type: ignore[no-untyped-def]
    result, lines = run(["--format", "csv"], b"id,body\n1,hello\n")
    assert result.exit_code != 0
    assert 'no "text" column' in result.output
    assert lines == []


def test_non_zero_exit_only_when_nothing_could_be_scored(built) -> None:  # type: ignore[no-untyped-def]
    result, lines = run(["--format", "jsonl"], b"not json\n{\n")
    assert result.exit_code == 1
    assert len(lines) == 2
    assert "no record could be scored" in result.stderr
    result, _ = run([], b"")
    assert result.exit_code == 1
    assert "no records" in result.stderr


def test_missing_file_is_a_clear_error(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result, _ = run([str(tmp_path / "nope.txt")])
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_policy_file(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"banned_terms": ["plugh"]}), encoding="utf-8")
    _, lines = run(["--policy", str(policy)], b"say p l u g h\n")
    assert lines[0]["decision"] == "reject"
    policy.write_text(json.dumps({"tier": "slowest"}), encoding="utf-8")
    result, _ = run(["--policy", str(policy)], b"x\n")
    assert result.exit_code == 1
    assert "invalid policy" in result.output


def test_batches_keep_input_order(built) -> None:  # type: ignore[no-untyped-def]
    data = "\n".join(
        "idiot" if i % 3 == 0 else ("" if i % 7 == 0 else f"ok {i}") for i in range(1, 60)
    )
    _, lines = run(["--format", "text", "--batch-size", "4"], data.encode())
    assert [o.get("id", o.get("line")) for o in lines] == list(range(1, 60))


def test_missing_models_are_reported_without_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result, _ = run(["--model-dir", str(tmp_path), "--tier", "fast"], b"hello\n")
    assert result.exit_code == 1
    assert "no moderation model could be loaded" in result.output
