"""Labelled data for training and evaluating the moderation models, mapped onto our six labels.

Every loader reads the files exactly as they lie in ``shared/data/<set>/`` (see each set's
``DATASET.md``). Texts are returned RAW: scorers normalise them themselves.

Two entry points with a frozen API:

* :func:`load_training_set` — the licence-OK sets only, minus each set's fixed held-out split.
* :func:`load_eval_sets` — held-out and evaluation-only sets, keyed by name.

Held-out splits are fixed: a row is held out when a keyed hash of its lower-cased, stripped text
falls under the set's held-out fraction, so the split never depends on the training seed, and
duplicate texts always fall on the same side.

Label mapping (``y`` in :data:`LABELS` order; ``mask`` False where the source says nothing)
=======================================================================================

================================ ==========================================================
source (licence)                 mapping
================================ ==========================================================
toxic_spans (CC0), raw per-rater toxicity = 1 - share of raters who ticked "not toxic" (soft).
annotations of Civil Comments    obscene / threat / insult / identity_attack = share of raters
news posts; minus SemEval trial  with a span of type Profane-Obscene / Threat / Insult /
and test posts; 15 % held out    Identity based Attack, over raters who marked spans or ticked
                                 "not toxic" (masked when every rater only ticked "all toxic").
                                 severe_toxicity masked. "Other Toxicity" spans only count
                                 towards toxicity.
davidson2017 (MIT), 20 % held    toxicity = (hate + offensive votes) / votes (soft);
out                              severe_toxicity = identity_attack = hate votes / votes;
                                 obscene, insult, threat masked, except for tweets whose
                                 majority said "neither", where all six are 0 except the
                                 soft hate share.
olid train (CC BY 4.0); the      NOT: all six 0. OFF: toxicity 1; UNT (untargeted profanity):
official test is evaluation      obscene 1, insult 0, threat 0, identity_attack 0; TIN
                                 (targeted insult/threat): insult 1, with IND target
                                 identity_attack 0, else masked. Everything else masked.
toxigen_demonstrations           hate: toxicity 1, identity_attack 1, the rest masked;
(MIT + CDLA-P-2.0), prompt       neutral: all six 0. Distinct texts only; 30 % held out.
statements
wiki_context_toxicity            label 0: all six 0; label 1: toxicity 1, the rest masked.
(Apache-2.0) gc + gn + cat_small gc uses the in-context label, gn and cat_small the
(out of context); 20 % held out  out-of-context one.
identity_mentions (ours)         benign sentences the project writes itself that mention
                                 identity groups (:func:`identity_mentions`): all six 0.
================================ ==========================================================

``wiki_toxicity_bias_eval`` (Apache-2.0) is NOT trained on, so that the fairness numbers it gives
stay honest. Evaluation-only sets (never trained on): ethos, stormfront_degibert2018,
kaggle_insults, sfu_ctc, tweeteval_hate, ruddit. ``tweeteval_offensive`` holds the same tweets as
olid and is not used at all.

Evaluation sets (:func:`load_eval_sets`); ``y_binary`` is "any toxicity":

=========================== ================================================== ================
name                        positive =                                          per-label y
=========================== ================================================== ================
olid                        official test, subtask A = OFF                      toxicity
kaggle_insults              test_with_solutions, Insult = 1                     insult
kaggle_insults_verification impermium verification, Insult = 1                  insult
ethos                       isHate >= 0.5 (all 998)                             toxicity, id.
stormfront                  balanced sampled test split, label = hate           toxicity, id.
toxigen                     held-out 30 % of the distinct statements, hate      toxicity, id.
tweeteval_hate              official test, hate                                 toxicity, id.
ruddit                      offensiveness score > 0.25 (deleted texts dropped)  toxicity
sfu_ctc                     crowd top answer >= 2 (mildly toxic or worse)       toxicity
sfu_ctc_toxic3              crowd top answer >= 3 (toxic or very toxic)         toxicity
toxic_spans                 SemEval-2021 test; < half the raters ticked "not    toxicity + 4
                            toxic"; ``spans`` = gold character offsets          span types
toxic_spans_posts           held-out 15 % of the raw posts, same rule           toxicity + 4
davidson2017                held-out 20 %, majority hate or offensive           tox, sev, id.
wiki_context                held-out 20 %, label 1                              toxicity
wiki_toxicity(_fuzzed)      identity-term test sets, toxic = True               toxicity
bias_madlibs                synthetic templates, BAD; ``groups`` = identity     toxicity
=========================== ================================================== ================
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np

from rostra.domain.errors import InvalidInput
from rostra.domain.labels import (
    IDENTITY_ATTACK,
    INSULT,
    LABELS,
    OBSCENE,
    SEVERE_TOXICITY,
    THREAT,
    TOXICITY,
)

__all__ = [
    "EVAL_SET_NAMES",
    "EvalSet",
    "LabelledSet",
    "TRAINING_SOURCES",
    "identity_mentions",
    "in_holdout",
    "load_eval_sets",
    "load_span_split",
    "load_training_set",
]

_COL = {label: i for i, label in enumerate(LABELS)}

#: Held-out fractions of the sets that have no official test split.
HOLDOUT = {
    "toxic_spans": 0.15,
    "davidson2017": 0.20,
    "toxigen": 0.30,
    "wiki_context": 0.20,
}

#: Licence-OK sources that :func:`load_training_set` returns, with their default row weight.
TRAINING_SOURCES: dict[str, float] = {
    "toxic_spans": 1.0,
    "davidson2017": 1.0,
    "olid": 1.0,
    "toxigen": 2.0,
    "wiki_context": 1.0,
    "identity_mentions": 1.0,
}

_SPAN_TYPES = {
    "Insult": INSULT,
    "Insu": INSULT,
    "Threat": THREAT,
    "Identity based Attack": IDENTITY_ATTACK,
    "Identity based ": IDENTITY_ATTACK,
    "Profane/Obscene": OBSCENE,
}


@dataclass
class LabelledSet:
    """Training rows: raw texts, soft targets ``y`` (n, 6) and a ``mask`` of known labels."""

    texts: list[str]
    y: np.ndarray  # (n, 6) float32 in LABELS order, values in [0, 1]
    mask: np.ndarray  # (n, 6) bool: False where the source says nothing about the label
    source: list[str]
    weight: np.ndarray  # (n,) float32

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray | list[int]) -> LabelledSet:
        idx = np.asarray(index, dtype=np.int64)
        return LabelledSet(
            texts=[self.texts[i] for i in idx],
            y=self.y[idx],
            mask=self.mask[idx],
            source=[self.source[i] for i in idx],
            weight=self.weight[idx],
        )


@dataclass
class EvalSet:
    """One evaluation split. ``y``/``mask`` give per-label gold where the source has it."""

    name: str
    texts: list[str]
    y_binary: np.ndarray  # (n,) int8: 1 = any toxicity
    y: np.ndarray | None = None  # (n, 6) float32
    mask: np.ndarray | None = None  # (n, 6) bool
    spans: list[list[int]] | None = None  # gold toxic character offsets (toxic_spans)
    groups: list[str] | None = None  # identity term per row (bias_madlibs)
    description: str = ""
    training_source: bool = field(default=False)  # held-out part of a set we train on

    def __len__(self) -> int:
        return len(self.texts)


# ---------------------------------------------------------------------------------------------
# helpers


def in_holdout(text: str, fraction: float, salt: str) -> bool:
    """True when ``text`` belongs to the fixed held-out part (hash of salt + lower-cased text)."""
    key = (salt + "\x00" + text.strip().lower()).encode("utf-8", "surrogatepass")
    value = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return value / 2.0**64 < fraction


def _need(path: Path) -> Path:
    if not path.exists():
        raise InvalidInput(
            f"dataset file {path} not found; point --data-dir (or ROSTRA_DATA_DIR) at the "
            "shared data folder",
            field="data_dir",
        )
    return path


def _open_text(path: Path) -> IO[str]:
    _need(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115


def _csv_rows(
    path: Path, *, delimiter: str = ",", quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL
) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 26)
    with _open_text(path) as fh:
        yield from csv.DictReader(fh, delimiter=delimiter, quoting=quoting)


class _Builder:
    """Accumulates rows with per-label values; unset labels stay masked."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.rows: list[dict[str, float]] = []
        self.source: list[str] = []
        self.weight: list[float] = []

    def add(self, text: str, labels: dict[str, float], source: str, weight: float = 1.0) -> None:
        if not text or not text.strip():
            return
        self.texts.append(text)
        self.rows.append(labels)
        self.source.append(source)
        self.weight.append(weight)

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        y = np.zeros((len(self.rows), len(LABELS)), dtype=np.float32)
        mask = np.zeros_like(y, dtype=bool)
        for i, row in enumerate(self.rows):
            for label, value in row.items():
                y[i, _COL[label]] = value
                mask[i, _COL[label]] = True
        return y, mask

    def labelled(self) -> LabelledSet:
        y, mask = self.matrices()
        return LabelledSet(
            texts=self.texts,
            y=y,
            mask=mask,
            source=self.source,
            weight=np.asarray(self.weight, dtype=np.float32),
        )

    def eval_set(self, name: str, binary: Iterable[int], **kwargs: object) -> EvalSet:
        y, mask = self.matrices()
        return EvalSet(
            name=name,
            texts=self.texts,
            y_binary=np.asarray(list(binary), dtype=np.int8),
            y=y,
            mask=mask,
            **kwargs,  # type: ignore[arg-type]
        )


def _all_zero() -> dict[str, float]:
    return dict.fromkeys(LABELS, 0.0)


# ---------------------------------------------------------------------------------------------
# toxic_spans


@dataclass
class _SpanPost:
    comment_id: str
    text: str
    toxicity: float
    subtypes: dict[str, float] | None  # None when no rater gave spans or "not toxic"


def _read_semeval(data_dir: Path, split: str) -> list[tuple[str, list[int]]]:
    path = data_dir / "toxic_spans" / "SemEval2021" / f"tsd_{split}.csv.gz"
    out = []
    for row in _csv_rows(path):
        offsets = ast.literal_eval(row["spans"]) if row["spans"].strip() else []
        out.append((row["text"], [int(o) for o in offsets]))
    return out


def _toxic_span_posts(data_dir: Path) -> list[_SpanPost]:
    base = data_dir / "toxic_spans" / "data"
    texts = {r["comment_id"]: r["comment_text"] for r in _csv_rows(base / "comments.csv.gz")}
    span_types: dict[str, set[str]] = defaultdict(set)
    for r in _csv_rows(base / "spans.csv.gz"):
        span_types[r["annotation"]].add(r["type"])
    raters: dict[str, list[tuple[bool, set[str]]]] = defaultdict(list)
    for r in _csv_rows(base / "annotations.csv.gz"):
        types = span_types.get(r["annotation"], set())
        raters[r["comment_id"]].append((r["not toxic"] == "True", types))
    posts = []
    for cid, votes in raters.items():
        text = texts.get(cid)
        if not text:
            continue
        n = len(votes)
        not_toxic = sum(1 for nt, _ in votes if nt)
        toxicity = 1.0 - not_toxic / n
        informative = [(nt, types) for nt, types in votes if nt or types]
        subtypes = None
        if informative:
            subtypes = {}
            for span_type in (OBSCENE, THREAT, INSULT, IDENTITY_ATTACK):
                hits = sum(
                    1
                    for nt, types in informative
                    if not nt and any(_SPAN_TYPES.get(t) == span_type for t in types)
                )
                subtypes[span_type] = hits / len(informative)
        posts.append(_SpanPost(cid, text, toxicity, subtypes))
    posts.sort(key=lambda p: int(p.comment_id) if p.comment_id.isdigit() else 0)
    return posts


def _span_post_labels(post: _SpanPost) -> dict[str, float]:
    labels = {TOXICITY: post.toxicity}
    if post.subtypes is not None:
        labels.update(post.subtypes)
    return labels


def _toxic_spans(data_dir: Path, *, held_out: bool) -> _Builder:
    semeval = {t for split in ("trial", "test") for t, _ in _read_semeval(data_dir, split)}
    b = _Builder()
    for post in _toxic_span_posts(data_dir):
        if post.text in semeval:
            continue
        if in_holdout(post.text, HOLDOUT["toxic_spans"], "toxic_spans") != held_out:
            continue
        b.add(post.text, _span_post_labels(post), "toxic_spans")
    return b


def load_span_split(data_dir: Path, split: str) -> list[tuple[str, list[int]]]:
    """SemEval-2021 Task 5 rows ``(text, gold character offsets)``; split: train/trial/test."""
    if split not in ("train", "trial", "test"):
        raise InvalidInput(f"unknown Toxic Spans split {split!r}", field="split")
    return _read_semeval(Path(data_dir), split)


@dataclass(frozen=True)
class RatedPost:
    """A raw Toxic Spans post with every rater's typed spans (original character offsets)."""

    text: str
    raters: int
    spans: list[tuple[int, str, int, int]]  # (rater, label or "" for Other Toxicity, start, end)

    def majority_offsets(self) -> set[int]:
        """Characters marked by more than half of the raters (the SemEval gold rule)."""
        marked: dict[int, set[int]] = defaultdict(set)
        for rater, _label, start, end in self.spans:
            for i in range(max(start, 0), min(end, len(self.text))):
                marked[i].add(rater)
        return {i for i, who in marked.items() if len(who) * 2 > self.raters}


def load_span_annotations(data_dir: Path) -> list[RatedPost]:
    """Raw Toxic Spans posts outside the SemEval trial and test sets, with all raters' spans.

    Labels are ours (insult, threat, identity_attack, obscene) or ``""`` for "Other Toxicity".
    """
    data_dir = Path(data_dir)
    base = data_dir / "toxic_spans" / "data"
    semeval = {t for split in ("trial", "test") for t, _ in _read_semeval(data_dir, split)}
    texts = {r["comment_id"]: r["comment_text"] for r in _csv_rows(base / "comments.csv.gz")}
    rater_of: dict[str, tuple[str, int]] = {}
    raters: dict[str, int] = defaultdict(int)
    for r in _csv_rows(base / "annotations.csv.gz"):
        cid = r["comment_id"]
        rater_of[r["annotation"]] = (cid, raters[cid])
        raters[cid] += 1
    spans: dict[str, list[tuple[int, str, int, int]]] = defaultdict(list)
    for r in _csv_rows(base / "spans.csv.gz"):
        if r["annotation"] not in rater_of:
            continue
        cid, rater = rater_of[r["annotation"]]
        label = _SPAN_TYPES.get(r["type"], "")
        spans[cid].append((rater, label, int(r["start"]), int(r["end"])))
    return [
        RatedPost(text, raters[cid], spans.get(cid, []))
        for cid, text in sorted(texts.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
        if text not in semeval and raters[cid] > 0
    ]


# ---------------------------------------------------------------------------------------------
# davidson2017, olid, toxigen, wiki_context


def _davidson(data_dir: Path, *, held_out: bool) -> tuple[_Builder, list[int]]:
    b = _Builder()
    binary = []
    for r in _csv_rows(data_dir / "davidson2017" / "labeled_data.csv"):
        text = r["tweet"]
        if in_holdout(text, HOLDOUT["davidson2017"], "davidson2017") != held_out:
            continue
        count = max(int(r["count"]), 1)
        hate = int(r["hate_speech"]) / count
        offensive = int(r["offensive_language"]) / count
        labels = {
            TOXICITY: min(1.0, hate + offensive),
            SEVERE_TOXICITY: hate,
            IDENTITY_ATTACK: hate,
        }
        if r["class"] == "2":
            labels.update({OBSCENE: 0.0, INSULT: 0.0, THREAT: 0.0})
        b.add(text, labels, "davidson2017")
        binary.append(int(r["class"] in ("0", "1")))
    return b, binary


def _olid_labels(a: str, b_: str, c: str) -> dict[str, float]:
    if a == "NOT":
        return _all_zero()
    labels = {TOXICITY: 1.0}
    if b_ == "UNT":
        labels.update({OBSCENE: 1.0, INSULT: 0.0, THREAT: 0.0, IDENTITY_ATTACK: 0.0})
    elif b_ == "TIN":
        labels[INSULT] = 1.0
        if c == "IND":
            labels[IDENTITY_ATTACK] = 0.0
    return labels


def _olid_train(data_dir: Path) -> _Builder:
    b = _Builder()
    path = data_dir / "olid" / "olid-training-v1.0.tsv"
    for r in _csv_rows(path, delimiter="\t", quoting=csv.QUOTE_NONE):
        b.add(r["tweet"], _olid_labels(r["subtask_a"], r["subtask_b"], r["subtask_c"]), "olid")
    return b


def _olid_test(data_dir: Path) -> EvalSet:
    base = data_dir / "olid"
    gold = {r["id"]: r["label"] for r in _csv_rows(base / "labels-levela.csv")}
    b = _Builder()
    binary = []
    for r in _csv_rows(base / "testset-levela.tsv", delimiter="\t", quoting=csv.QUOTE_NONE):
        label = gold.get(r["id"])
        if label is None:
            continue
        b.add(r["tweet"], {TOXICITY: float(label == "OFF")}, "olid")
        binary.append(int(label == "OFF"))
    return b.eval_set("olid", binary, description="OLID official test (860 tweets), OFF")


def _toxigen_rows(data_dir: Path) -> list[tuple[str, bool]]:
    seen: dict[str, bool] = {}
    path = _need(data_dir / "toxigen_demonstrations" / "prompt_sentences.jsonl")
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            seen.setdefault(row["text"], row["label"] == "hate")
    return list(seen.items())


def _toxigen(data_dir: Path, *, held_out: bool) -> tuple[_Builder, list[int]]:
    b = _Builder()
    binary = []
    for text, hate in _toxigen_rows(data_dir):
        if in_holdout(text, HOLDOUT["toxigen"], "toxigen") != held_out:
            continue
        labels = {TOXICITY: 1.0, IDENTITY_ATTACK: 1.0} if hate else _all_zero()
        b.add(text, labels, "toxigen", TRAINING_SOURCES["toxigen"])
        binary.append(int(hate))
    return b, binary


def _wiki_context_rows(data_dir: Path) -> Iterator[tuple[str, int]]:
    base = data_dir / "wiki_context_toxicity"
    for name in ("gc.csv.gz", "gn.csv.gz"):
        for r in _csv_rows(base / name):
            yield r["text"], int(float(r["label"]))
    for r in _csv_rows(base / "cat_small.csv"):
        yield r["text"], int(float(r["label_oc"]))


def _wiki_context(data_dir: Path, *, held_out: bool) -> tuple[_Builder, list[int]]:
    b = _Builder()
    binary = []
    for text, label in _wiki_context_rows(data_dir):
        if in_holdout(text, HOLDOUT["wiki_context"], "wiki_context") != held_out:
            continue
        b.add(text, {TOXICITY: 1.0} if label else _all_zero(), "wiki_context")
        binary.append(label)
    return b, binary


# ---------------------------------------------------------------------------------------------
# benign identity mentions written by the project (no third-party text)

IDENTITY_TERMS: tuple[str, ...] = (
    "gay", "lesbian", "bisexual", "transgender", "trans", "queer", "lgbt", "lgbtq",
    "homosexual", "straight", "heterosexual", "nonbinary", "black", "white", "african",
    "african american", "asian", "chinese", "japanese", "indian", "hispanic", "latino",
    "latina", "mexican", "european", "american", "canadian", "middle eastern", "arab",
    "muslim", "jewish", "christian", "catholic", "protestant", "buddhist", "hindu", "sikh",
    "atheist", "immigrant", "refugee", "deaf", "blind", "disabled", "autistic", "elderly",
    "old", "young", "teenage", "female", "male", "woman", "man",
)  # fmt: skip

_MENTION_TEMPLATES: tuple[str, ...] = (
    "I am a proud {t} woman.",
    "I am a proud {t} man.",
    "As a {t} person, I enjoyed this article.",
    "My neighbour is {t} and we often share dinner.",
    "{T} people celebrate their holidays with family.",
    "Our town has a growing {t} community.",
    "The new mayor is {t}.",
    "She wrote a thoughtful book about growing up {t}.",
    "Many {t} families live on our street.",
    "He spoke about his experience as a {t} student.",
    "The festival welcomed {t} artists this year.",
    "My best friend is {t} and an excellent cook.",
    "The report looks at {t} voters in the election.",
    "I grew up {t} in a small town.",
    "Being {t} is part of who I am.",
    "The {t} choir sang beautifully at the concert.",
)

_GROUP_SENTENCES: tuple[str, ...] = (
    "Jewish people celebrate Hanukkah.",
    "Muslims around the world observe Ramadan.",
    "Christians celebrate Easter in the spring.",
    "Hindus celebrate Diwali, the festival of lights.",
    "Sikhs gather at the gurdwara for a shared meal.",
    "The synagogue opened its doors to the neighbourhood.",
    "The mosque hosted an open day for visitors.",
    "I am a proud gay Muslim woman.",
    "I am a Black woman and a nurse.",
    "Gay and lesbian couples can marry here.",
    "Transgender people deserve good health care.",
    "Immigrants started many of the shops on this street.",
    "Refugees from the war arrived last month.",
    "My grandmother is deaf and reads lips well.",
    "The rabbi and the imam spoke together at the vigil.",
    "Pride month is celebrated in June.",
)


def identity_mentions() -> list[str]:
    """Benign sentences, written for this project, that mention identity groups.

    They teach the model that naming a group is not an attack (the bias_madlibs evaluation
    templates are deliberately not reused).
    """
    out = list(_GROUP_SENTENCES)
    for template in _MENTION_TEMPLATES:
        for term in IDENTITY_TERMS:
            out.append(template.format(t=term, T=term.capitalize()))
    return out


def _identity_mentions() -> _Builder:
    b = _Builder()
    for text in identity_mentions():
        b.add(text, _all_zero(), "identity_mentions", TRAINING_SOURCES["identity_mentions"])
    return b


# ---------------------------------------------------------------------------------------------
# training set


def _concat(builders: Iterable[_Builder]) -> LabelledSet:
    parts = [b.labelled() for b in builders]
    return LabelledSet(
        texts=[t for p in parts for t in p.texts],
        y=np.concatenate([p.y for p in parts]) if parts else np.zeros((0, len(LABELS)), "f4"),
        mask=np.concatenate([p.mask for p in parts]) if parts else np.zeros((0, 6), bool),
        source=[s for p in parts for s in p.source],
        weight=np.concatenate([p.weight for p in parts]) if parts else np.zeros(0, "f4"),
    )


def load_training_set(
    data_dir: Path, *, seed: int = 0, sources: Iterable[str] | None = None
) -> LabelledSet:
    """All licence-OK training rows minus the fixed held-out splits, shuffled with ``seed``."""
    data_dir = Path(data_dir)
    wanted = list(TRAINING_SOURCES) if sources is None else list(sources)
    unknown = sorted(set(wanted) - set(TRAINING_SOURCES))
    if unknown:
        raise InvalidInput(f"not a licence-OK training source: {', '.join(unknown)}")
    loaders: dict[str, Callable[[], _Builder]] = {
        "toxic_spans": lambda: _toxic_spans(data_dir, held_out=False),
        "davidson2017": lambda: _davidson(data_dir, held_out=False)[0],
        "olid": lambda: _olid_train(data_dir),
        "toxigen": lambda: _toxigen(data_dir, held_out=False)[0],
        "wiki_context": lambda: _wiki_context(data_dir, held_out=False)[0],
        "identity_mentions": _identity_mentions,
    }
    data = _concat(loaders[name]() for name in wanted)
    order = np.random.default_rng(seed).permutation(len(data))
    return data.subset(order)


# ---------------------------------------------------------------------------------------------
# evaluation sets

_ESCAPE = re.compile(r"\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\[nrt'\"\\]")


def _kaggle_text(raw: str) -> str:
    text = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    try:
        text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return text
    try:  # byte escapes of UTF-8 text decode to mojibake; undo it where possible
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _kaggle(data_dir: Path, file: str, name: str) -> EvalSet:
    b = _Builder()
    binary = []
    for r in _csv_rows(data_dir / "kaggle_insults" / file):
        text = _kaggle_text(r["Comment"])
        if not text.strip():
            continue
        b.add(text, {INSULT: float(r["Insult"])}, name)
        binary.append(int(r["Insult"]))
    return b.eval_set(name, binary, description=f"Kaggle insults {file}, Insult = 1")


def _ethos(data_dir: Path) -> EvalSet:
    b = _Builder()
    binary = []
    for r in _csv_rows(data_dir / "ethos" / "Ethos_Dataset_Binary.csv", delimiter=";"):
        hate = float(r["isHate"]) >= 0.5
        b.add(r["comment"], {TOXICITY: float(hate), IDENTITY_ATTACK: float(hate)}, "ethos")
        binary.append(int(hate))
    return b.eval_set("ethos", binary, description="ETHOS binary (998), isHate >= 0.5")


def _stormfront(data_dir: Path) -> EvalSet:
    b = _Builder()
    binary = []
    path = data_dir / "stormfront_degibert2018" / "stormfront_sentences.csv.gz"
    for r in _csv_rows(path):
        if r["sampled_split"] != "test" or r["label"] not in ("hate", "noHate"):
            continue
        hate = float(r["label"] == "hate")
        b.add(r["text"], {TOXICITY: hate, IDENTITY_ATTACK: hate}, "stormfront")
        binary.append(int(hate))
    return b.eval_set("stormfront", binary, description="Stormfront sampled test (balanced)")


def _tweeteval_hate(data_dir: Path) -> EvalSet:
    base = data_dir / "tweeteval_hate"
    with open(_need(base / "test_text.txt"), encoding="utf-8") as fh:
        texts = fh.read().split("\n")
    with open(_need(base / "test_labels.txt"), encoding="utf-8") as fh:
        labels = [line.strip() for line in fh if line.strip()]
    b = _Builder()
    binary = []
    for text, label in zip(texts, labels, strict=False):
        hate = float(label == "1")
        if not text.strip():
            continue
        b.add(text, {TOXICITY: hate, IDENTITY_ATTACK: hate}, "tweeteval_hate")
        binary.append(int(hate))
    return b.eval_set("tweeteval_hate", binary, description="TweetEval hate official test")


def _ruddit(data_dir: Path) -> EvalSet:
    b = _Builder()
    binary = []
    for r in _csv_rows(data_dir / "ruddit" / "ruddit_with_text.csv.gz"):
        body = r["comment_body"]
        if body.strip() in ("[deleted]", "[removed]", ""):
            continue
        offensive = float(r["offensiveness_score"]) > 0.25
        b.add(body, {TOXICITY: float(offensive)}, "ruddit")
        binary.append(int(offensive))
    return b.eval_set("ruddit", binary, description="Ruddit, offensiveness score > 0.25")


def _sfu(data_dir: Path, minimum: int, name: str) -> EvalSet:
    b = _Builder()
    binary = []
    for r in _csv_rows(data_dir / "sfu_ctc" / "SFU_constructiveness_toxicity.csv"):
        try:
            level = int(float(r["is_toxic_popular_answer_1"]))
        except ValueError:
            continue
        toxic = level >= minimum
        b.add(r["comment"], {TOXICITY: float(toxic)}, name)
        binary.append(int(toxic))
    return b.eval_set(name, binary, description=f"SFU CTC news comments, crowd answer >= {minimum}")


def _span_post_eval(name: str, posts: Iterable[_SpanPost], **kwargs: object) -> EvalSet:
    b = _Builder()
    binary = []
    for post in posts:
        labels = {TOXICITY: float(post.toxicity > 0.5)}
        if post.subtypes is not None:
            labels.update({k: float(v > 0.5) for k, v in post.subtypes.items()})
        b.add(post.text, labels, name)
        binary.append(int(post.toxicity > 0.5))
    return b.eval_set(name, binary, **kwargs)


def _toxic_spans_test(data_dir: Path) -> EvalSet:
    by_text = {p.text: p for p in _toxic_span_posts(data_dir)}
    rows = _read_semeval(data_dir, "test")
    posts = []
    for text, _ in rows:
        post = by_text.get(text) or _SpanPost("", text, 1.0, None)
        posts.append(post)
    return _span_post_eval(
        "toxic_spans",
        posts,
        spans=[offsets for _, offsets in rows],
        description="Toxic Spans SemEval-2021 test (news comments); < half ticked not toxic",
    )


def _toxic_spans_posts(data_dir: Path) -> EvalSet:
    semeval = {t for split in ("trial", "test") for t, _ in _read_semeval(data_dir, split)}
    posts = [
        p
        for p in _toxic_span_posts(data_dir)
        if p.text not in semeval and in_holdout(p.text, HOLDOUT["toxic_spans"], "toxic_spans")
    ]
    return _span_post_eval(
        "toxic_spans_posts",
        posts,
        description="held-out Toxic Spans posts (news comments, all pre-rated toxic)",
        training_source=True,
    )


def _wiki_toxicity(data_dir: Path, fuzzed: bool) -> EvalSet:
    name = "wiki_toxicity_fuzzed" if fuzzed else "wiki_toxicity"
    file = "toxicity_fuzzed_testset.csv" if fuzzed else "toxicity_nonfuzzed_testset.csv"
    b = _Builder()
    binary = []
    for r in _csv_rows(data_dir / "wiki_toxicity_bias_eval" / file):
        toxic = r["toxic"] == "True"
        b.add(r["comment"], {TOXICITY: float(toxic)}, name)
        binary.append(int(toxic))
    return b.eval_set(name, binary, description=f"Wikipedia identity-term test set ({file})")


def madlibs_identity(text: str) -> str:
    """The identity term a bias_madlibs sentence is about (its longest known term)."""
    lowered = " " + re.sub(r"[^a-z ]", " ", text.lower()) + " "
    found = [term for term in _MADLIBS_TERMS if f" {term} " in lowered]
    return max(found, key=len) if found else ""  # "" for the occupation templates


_MADLIBS_TERMS = frozenset((
    "lesbian", "gay", "bisexual", "transgender", "trans", "queer", "lgbt", "lgbtq", "homosexual",
    "straight", "heterosexual", "male", "female", "nonbinary", "african", "african american",
    "black", "white", "european", "hispanic", "latino", "latina", "latinx", "mexican", "canadian",
    "american", "asian", "indian", "middle eastern", "chinese", "japanese", "christian", "muslim",
    "jewish", "buddhist", "catholic", "protestant", "sikh", "taoist", "old", "older", "young",
    "younger", "teenage", "millenial", "middle aged", "elderly", "blind", "deaf", "paralyzed",
))  # fmt: skip


def _madlibs(data_dir: Path) -> EvalSet:
    b = _Builder()
    binary = []
    groups = []
    path = data_dir / "wiki_toxicity_bias_eval" / "bias_madlibs_77k.csv.gz"
    for r in _csv_rows(path):
        bad = r["Label"] == "BAD"
        b.add(r["Text"], {TOXICITY: float(bad)}, "bias_madlibs")
        binary.append(int(bad))
        groups.append(madlibs_identity(r["Text"]))
    return b.eval_set(
        "bias_madlibs", binary, groups=groups, description="bias madlibs 77k synthetic templates"
    )


def _held_out(name: str, pair: tuple[_Builder, list[int]], description: str) -> EvalSet:
    builder, binary = pair
    return builder.eval_set(name, binary, description=description, training_source=True)


def _eval_loaders(data_dir: Path) -> dict[str, Callable[[], EvalSet]]:
    return {
        "olid": lambda: _olid_test(data_dir),
        "kaggle_insults": lambda: _kaggle(data_dir, "test_with_solutions.csv", "kaggle_insults"),
        "kaggle_insults_verification": lambda: _kaggle(
            data_dir, "impermium_verification_labels.csv", "kaggle_insults_verification"
        ),
        "ethos": lambda: _ethos(data_dir),
        "stormfront": lambda: _stormfront(data_dir),
        "toxigen": lambda: _held_out(
            "toxigen", _toxigen(data_dir, held_out=True), "ToxiGen statements, held-out 30 %"
        ),
        "tweeteval_hate": lambda: _tweeteval_hate(data_dir),
        "ruddit": lambda: _ruddit(data_dir),
        "sfu_ctc": lambda: _sfu(data_dir, 2, "sfu_ctc"),
        "sfu_ctc_toxic3": lambda: _sfu(data_dir, 3, "sfu_ctc_toxic3"),
        "toxic_spans": lambda: _toxic_spans_test(data_dir),
        "toxic_spans_posts": lambda: _toxic_spans_posts(data_dir),
        "davidson2017": lambda: _held_out(
            "davidson2017", _davidson(data_dir, held_out=True), "Davidson 2017, held-out 20 %"
        ),
        "wiki_context": lambda: _held_out(
            "wiki_context", _wiki_context(data_dir, held_out=True), "CAT gc/gn/small, held-out 20 %"
        ),
        "wiki_toxicity": lambda: _wiki_toxicity(data_dir, fuzzed=False),
        "wiki_toxicity_fuzzed": lambda: _wiki_toxicity(data_dir, fuzzed=True),
        "bias_madlibs": lambda: _madlibs(data_dir),
    }


EVAL_SET_NAMES: tuple[str, ...] = tuple(_eval_loaders(Path(".")))


def load_eval_sets(data_dir: Path, names: Iterable[str] | None = None) -> dict[str, EvalSet]:
    """Evaluation splits by name (all of :data:`EVAL_SET_NAMES` unless ``names`` is given)."""
    loaders = _eval_loaders(Path(data_dir))
    wanted = list(loaders) if names is None else list(names)
    unknown = [n for n in wanted if n not in loaders]
    if unknown:
        raise InvalidInput(
            f"unknown dataset {', '.join(unknown)}; choose from {', '.join(loaders)}",
            field="dataset",
        )
    return {name: loaders[name]() for name in wanted}
