"""``rostra score``: moderate comments from a file or standard input, one JSON line each.

Input is read as bytes and decoded record by record, so one bad record (invalid UTF-8, a
broken JSON line, a missing ``text``, an empty or oversized comment) becomes an error object
on the output while the others are still scored. Memory stays constant: records stream in
batches, and an overlong line is skipped in chunks without being held.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from rostra.cli import main
from rostra.domain.errors import RostraError
from rostra.domain.moderation import ModerationResult
from rostra.moderation.engine import MAX_CHARS, ModerationEngine
from rostra.moderation.policy import TIERS, Policy

FORMATS = ("text", "jsonl", "csv")
#: Lines longer than this many bytes are reported as too long without being read into memory.
MAX_LINE_BYTES = 4 * MAX_CHARS + 4096
CHUNK = 1 << 16
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


@dataclass(slots=True)
class _Line:
    number: int  # 1-based physical line number
    data: bytes  # without the line ending; empty when too long
    too_long: bool = False


@dataclass(slots=True)
class _Record:
    line: int
    id: Any
    text: str | None = None
    error: tuple[str, str] | None = None  # (code, message)


class _ByteCounter:
    """Reads lines from a binary stream, reporting progress in bytes."""

    def __init__(self, stream: _Peeked, on_bytes: Any = None) -> None:
        self.stream = stream
        self.on_bytes = on_bytes

    def lines(self) -> Iterator[_Line]:
        number = 0
        while True:
            raw = self.stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            self._advance(len(raw))
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                # Skip the rest of the line in chunks: constant memory for a 10 GB line.
                while True:
                    chunk = self.stream.readline(CHUNK)
                    self._advance(len(chunk))
                    if not chunk or chunk.endswith(b"\n"):
                        break
                yield _Line(number, b"", too_long=True)
                continue
            yield _Line(number, raw.rstrip(b"\r\n"))

    def _advance(self, n: int) -> None:
        if self.on_bytes is not None and n:
            self.on_bytes(n)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _too_long(line: int, id_: Any) -> _Record:
    message = f"comment longer than {MAX_CHARS} characters"
    return _Record(line, id_, error=("too_long", message))


def _check_text(record: _Record) -> _Record:
    if record.error is None and record.text is not None:
        if not record.text.strip():
            record.error = ("empty_text", "the comment is empty")
        elif len(record.text) > MAX_CHARS:
            record.text = None
            record.error = _too_long(record.line, record.id).error
    return record


def _text_records(lines: Iterator[_Line]) -> Iterator[_Record]:
    for line in lines:
        if line.too_long:
            yield _too_long(line.number, line.number)
            continue
        text = _decode(line.data)
        if text is None:
            yield _Record(line.number, line.number, error=("invalid_utf8", "not valid UTF-8"))
            continue
        yield _check_text(_Record(line.number, line.number, text=text))


def _jsonl_records(lines: Iterator[_Line]) -> Iterator[_Record]:
    for line in lines:
        n = line.number
        if line.too_long:
            yield _too_long(n, None)
            continue
        decoded = _decode(line.data)
        if decoded is None:
            yield _Record(n, None, error=("invalid_utf8", "not valid UTF-8"))
            continue
        if not decoded.strip():
            continue  # blank lines separate nothing in JSON Lines
        try:
            obj = json.loads(decoded)
        except (json.JSONDecodeError, RecursionError) as exc:
            message = getattr(exc, "msg", "too deeply nested")
            yield _Record(n, None, error=("invalid_json", f"broken JSON: {message}"))
            continue
        if not isinstance(obj, dict):
            yield _Record(n, None, error=("invalid_json", "each line must be a JSON object"))
            continue
        id_ = obj.get("id", n)
        if isinstance(id_, dict | list):
            id_ = n
        if "text" not in obj:
            yield _Record(n, id_, error=("missing_field", 'no "text" field'))
        elif not isinstance(obj["text"], str):
            yield _Record(n, id_, error=("invalid_field", '"text" must be a string'))
        else:
            yield _check_text(_Record(n, id_, text=obj["text"]))


def _csv_records(lines: Iterator[_Line]) -> Iterator[_Record]:
    too_long: set[int] = set()
    bad_utf8: set[int] = set()

    def decoded() -> Iterator[str]:
        for line in lines:
            if line.too_long:
                too_long.add(line.number)
            text = _decode(line.data)
            if text is None:
                bad_utf8.add(line.number)
                text = ""
            yield text + "\n"

    csv.field_size_limit(MAX_LINE_BYTES)
    # Strict: a quote that is never closed, or text after a closing quote, is a broken record
    # (reported) rather than text silently joined to the records after it or altered.
    reader = csv.reader(decoded(), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise click.ClickException(f"cannot read the CSV header: {exc}") from None
    columns = [h.strip().lower().lstrip("\ufeff") for h in header]
    if "text" not in columns:
        raise click.ClickException('the CSV header has no "text" column')
    text_at = columns.index("text")
    id_at = columns.index("id") if "id" in columns else None
    number = 0
    last_line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            span = range(last_line + 1, reader.line_num + 1)
            last_line = reader.line_num
            if any(n in too_long for n in span):
                yield _too_long(span.start, None)
            else:
                yield _Record(span.start, None, error=("invalid_csv", f"broken CSV record: {exc}"))
            continue
        span = range(last_line + 1, reader.line_num + 1)
        last_line = reader.line_num
        broken = any(n in too_long or n in bad_utf8 for n in span)
        if not row and not broken:
            continue  # a blank line
        number += 1
        id_: Any = row[id_at] if id_at is not None and id_at < len(row) else number
        if any(n in too_long for n in span):
            yield _too_long(span.start, id_)
        elif any(n in bad_utf8 for n in span):
            yield _Record(span.start, id_, error=("invalid_utf8", "not valid UTF-8"))
        elif text_at >= len(row):
            yield _Record(span.start, id_, error=("missing_field", 'no "text" value'))
        else:
            yield _check_text(_Record(span.start, id_, text=row[text_at]))


READERS = {"text": _text_records, "jsonl": _jsonl_records, "csv": _csv_records}


def _sniff(source: str, first: bytes) -> str:
    suffix = Path(source).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".txt":
        return "text"
    head = first.lstrip(b"\xef\xbb\xbf").strip()
    if head.startswith(b"{"):
        return "jsonl"
    try:
        columns = next(csv.reader([head.decode("utf-8", "replace")]))
    except (csv.Error, StopIteration):
        return "text"
    if len(columns) > 1 and "text" in (c.strip().lower() for c in columns):
        return "csv"
    return "text"


class _Peeked:
    """A binary stream with its first line already read (to sniff the format)."""

    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        self.first = first
        self.rest = rest

    def readline(self, size: int = -1) -> bytes:
        if self.first:
            limit = len(self.first) if size < 0 else size
            out, self.first = self.first[:limit], self.first[limit:]
            return out
        return self.rest.readline(size)


def build_engine(model_dir: str | None, tier: str) -> ModerationEngine:
    """The engine ``rostra score`` uses: the shipped (or given) models, loaded once; only the
    fast tier when that is all ``tier`` needs."""
    tiers = ("fast",) if tier == "fast" else ("fast", "accurate")
    return ModerationEngine.from_model_dir(model_dir, tiers=tiers)


def _result_json(record: _Record, result: ModerationResult) -> dict[str, Any]:
    return {
        "id": record.id,
        "scores": {k: round(v, 4) for k, v in result.scores.items()},
        "decision": result.decision.value,
        "reasons": [
            {
                "label": r.label,
                "start": r.start,
                "end": r.end,
                "text": r.text,
                "weight": round(r.weight, 4),
                "source": r.source,
            }
            for r in result.reasons
        ],
        "tier": result.tier,
    }


def _error_json(record: _Record) -> dict[str, Any]:
    assert record.error is not None
    code, message = record.error
    out: dict[str, Any] = {"line": record.line}
    if record.id is not None:
        out["id"] = record.id
    out["error"] = {"code": code, "message": message}
    return out


def _dumps(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, ensure_ascii=False)
    # Lone surrogates (from "\ud800" escapes in the input) cannot be written as UTF-8.
    return json.dumps(obj) if _SURROGATE_RE.search(text) else text


class _Scorer:
    """Batches records through the engine and writes every record's line in input order."""

    def __init__(
        self,
        engine: ModerationEngine,
        out: IO[str],
        *,
        policy: Policy,
        tier: str | None,
        explain: bool,
        batch_size: int,
    ) -> None:
        self.engine = engine
        self.out = out
        self.policy = policy
        self.tier = tier
        self.explain = explain
        self.batch_size = batch_size
        self.pending: list[_Record] = []
        self.waiting = 0
        self.scored = 0
        self.failed = 0

    def add(self, record: _Record) -> None:
        self.pending.append(record)
        if record.error is None:
            self.waiting += 1
        if self.waiting >= self.batch_size:
            self.flush()

    def _moderate(self, texts: list[str]) -> list[ModerationResult | None]:
        try:
            return list(
                self.engine.moderate(
                    texts, policy=self.policy, tier=self.tier, explain=self.explain
                )
            )
        except Exception:  # noqa: BLE001 - isolate the record that breaks a batch
            if len(texts) == 1:
                return [None]
            results: list[ModerationResult | None] = []
            for text in texts:
                results.extend(self._moderate([text]))
            return results

    def flush(self) -> None:
        texts = [r.text for r in self.pending if r.error is None and r.text is not None]
        results = iter(self._moderate(texts) if texts else [])
        for record in self.pending:
            if record.error is None:
                result = next(results)
                if result is None:
                    record.error = ("scoring_failed", "the engine could not score this comment")
                else:
                    self.out.write(_dumps(_result_json(record, result)) + "\n")
                    self.scored += 1
                    continue
            self.out.write(_dumps(_error_json(record)) + "\n")
            self.failed += 1
        self.out.flush()
        self.pending.clear()
        self.waiting = 0


@main.command()
@click.argument("source", default="-", metavar="[FILE|-]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Input format; default: from the file extension, else from the first line.",
)
@click.option(
    "--tier",
    type=click.Choice(TIERS),
    default=None,
    help="Model tier; default: the policy's (cascade).",
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder with fast/ and accurate/ model files; default: the shipped models.",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON file with policy settings (thresholds, word lists); default: built-in policy.",
)
@click.option("--explain/--no-explain", default=True, help="Report the words behind labels.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=256, show_default=True)
def score(
    source: str,
    fmt: str | None,
    tier: str | None,
    model_dir: str | None,
    policy_file: str | None,
    explain: bool,
    batch_size: int,
) -> None:
    """Score comments: plain text lines, JSON Lines with "text" (and "id"), or CSV with a
    "text" column. Writes one JSON object per record to standard output."""
    policy = _load_policy(policy_file)
    stream, size = _open(source)
    err = Console(stderr=True)
    try:
        first = stream.readline(MAX_LINE_BYTES + 1)
        chosen = fmt or _sniff(source, first)
        try:
            engine = build_engine(model_dir, tier or policy.tier)
        except RostraError as exc:
            raise click.ClickException(exc.message) from None
        out = sys.stdout
        writer = _Scorer(
            engine, out, policy=policy, tier=tier, explain=explain, batch_size=batch_size
        )
        show = size is not None and err.is_terminal
        with Progress(
            TextColumn("scoring"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not show,
            transient=True,
        ) as progress:
            task = progress.add_task("score", total=size)
            counter = _ByteCounter(
                _Peeked(first, stream), lambda n: progress.advance(task, n) if show else None
            )
            for record in READERS[chosen](counter.lines()):
                writer.add(record)
            writer.flush()
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror or exc}") from None
    finally:
        if source != "-":
            stream.close()
    if writer.scored == 0:
        what = "no record could be scored" if writer.failed else "no records in the input"
        raise click.ClickException(what)
    if writer.failed:
        err.print(f"{writer.scored} scored, {writer.failed} with errors", highlight=False)


def _load_policy(path: str | None) -> Policy:
    if path is None:
        return Policy.default()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot read the policy {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"the policy {path} is not valid JSON: {exc}") from None
    try:
        return Policy.from_dict(data)
    except RostraError as exc:
        raise click.ClickException(f"invalid policy {path}: {exc.message}") from None


def _open(source: str) -> tuple[IO[bytes], int | None]:
    if source == "-":
        return sys.stdin.buffer, None
    path = Path(source)
    try:
        return path.open("rb"), path.stat().st_size
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror or exc}") from None
