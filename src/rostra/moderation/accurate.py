"""The accurate tier: fine-tuned MiniLM-L6 run with onnxruntime and tokenizers (no torch).

Texts must already be normalised (:func:`rostra.moderation.normalize.normalize`), as in
training. Each text is cut to the first ``max_length`` tokens (128, from the model's
``config.json``, counting ``[CLS]`` and ``[SEP]``): about 90 words; anything after that does not
count towards the score. Batches are sorted by length and padded only to their longest member,
so a long comment never slows down the short ones around it.

The model also outputs its head's input, the mean-pooled last layer (``embed``): per-site
models learn from that sentence representation. Scoring keeps the vectors of the last
``RECENT_VECTORS`` texts it scored (by a digest of the text), so that a site model reading the
vector of a comment this tier has just scored does not run the model a second time. A model
file without that output still scores; it just has no embeddings (``has_embeddings`` is
False).

Parallelism: each onnxruntime call runs on one thread, and the sub-batches of a big batch run
on ``threads`` threads at once (onnxruntime releases the GIL). On a small CPU this beats
splitting every matrix product across cores: no spinning worker threads, no synchronisation
per layer, and a single comment still costs one core's time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from rostra.domain.errors import InvalidInput, ScorerNotLoaded
from rostra.domain.labels import LABELS

__all__ = ["DEFAULT_MODEL_DIR", "AccurateScorer", "pad_ids"]

#: The model shipped in the package (built by ``rostra train --tier accurate``).
DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "accurate"

#: The graph output with the sentence representation (the head's input).
SENTENCE_OUTPUT = "sentence_embedding"

#: Sentence vectors of this many recently scored texts are kept (16-byte keys, 1.5 KB each).
RECENT_VECTORS = 1024

#: Rows per onnxruntime call: large enough to amortise call overhead, small enough that one long
#: text pads few others.
BATCH_SIZE = 32


class AccurateScorer:
    """Calibrated probabilities for the six labels from the fine-tuned transformer."""

    name = "accurate"
    labels: tuple[str, ...] = LABELS

    def __init__(self, *, model_dir: str | Path | None = None, threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        self.model_dir = model_dir
        #: Sub-batches scored at once; ``None`` means one per CPU core this process may use.
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._width = 0  # of the sentence representation; 0 when the model has none
        self._logits = "logits"  # the name of the graph's first output
        self._recent: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._a = np.ones(len(LABELS), dtype=np.float32)
        self._b = np.zeros(len(LABELS), dtype=np.float32)
        self.max_length = 128
        #: Identifies the loaded model in signals ("minilm-l6-int8-<training run key>").
        self.version = self.name
        #: Entered around each onnxruntime call, which releases the GIL: a caller that lets
        #: one request's Python run at a time steps aside here, so inference still overlaps.
        self.around_inference: Callable[[], AbstractContextManager[None]] = nullcontext

    def get_params(self) -> dict[str, Any]:
        model_dir = None if self.model_dir is None else str(self.model_dir)
        return {"model_dir": model_dir, "threads": self.threads}

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        """Open the ONNX session and the tokenizer; idempotent."""
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(self.model_dir) if self.model_dir is not None else DEFAULT_MODEL_DIR
        files = {n: folder / n for n in ("model.onnx", "tokenizer.json", "config.json")}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise InvalidInput(
                f"accurate model files missing: {', '.join(missing)}; rebuild them with "
                "`rostra train --tier accurate`",
                field="model_dir",
            )
        try:
            config = json.loads(files["config.json"].read_text(encoding="utf-8"))
            if tuple(config.get("labels", ())) != LABELS:
                raise InvalidInput(f"{files['config.json']} was trained for other labels")
            max_length = int(config.get("max_length", 128))
            a, b = self._a, self._b
            calibration = folder / "calibration.json"
            if calibration.is_file():
                per_label = json.loads(calibration.read_text(encoding="utf-8"))["labels"]
                a = np.array([per_label[x]["a"] for x in LABELS], dtype=np.float32)
                b = np.array([per_label[x]["b"] for x in LABELS], dtype=np.float32)
            tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(
                str(files["model.onnx"]), options, providers=["CPUExecutionProvider"]
            )
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime/tokenizers raise their own types
            raise InvalidInput(
                f"accurate model in {folder} is unreadable ({type(exc).__name__}: {exc}); "
                "rebuild it with `rostra train --tier accurate`",
                field="model_dir",
            ) from exc
        self.max_length, self._a, self._b = max_length, a, b
        self.version = f"minilm-l6-int8-{config.get('run_key', 'unknown')}"
        outputs = {o.name: o.shape for o in session.get_outputs()}
        width = outputs.get(SENTENCE_OUTPUT, [None, None])[-1]
        self._width = width if isinstance(width, int) else 0
        self._logits = session.get_outputs()[0].name
        self._tokenizer = tokenizer
        self._session = session

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape ``(len(texts), 6)`` in :data:`LABELS` order."""
        z = self.logits(texts) * self._a + self._b
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        return probs.astype(np.float32)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw (uncalibrated) model outputs, shape ``(len(texts), 6)``."""
        if self._session is None:
            raise ScorerNotLoaded(f"{type(self).__name__}.score() called before load()")
        if not self._width:
            return self._run(texts, [(self._logits, len(LABELS))])[0]
        # The sentence vectors come out of the same run at no extra cost: keep them.
        logits, vectors = self._run(texts, [(self._logits, len(LABELS)),
                                            (SENTENCE_OUTPUT, self._width)])
        self._remember([_key(t) for t in texts], vectors)
        return logits

    @property
    def has_embeddings(self) -> bool:
        """Whether the loaded model outputs its sentence representation."""
        return self._width > 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The sentence representation the head reads (mean-pooled last layer), shape
        ``(len(texts), width)``; texts normalised, as for :meth:`score`."""
        if self._session is None:
            raise ScorerNotLoaded(f"{type(self).__name__}.embed() called before load()")
        if not self._width:
            raise InvalidInput(
                "this accurate model has no sentence representation output; rebuild it with "
                "`rostra train --tier accurate`",
                field="model_dir",
            )
        keys = [_key(_text(t)) for t in texts]
        out = np.zeros((len(texts), self._width), dtype=np.float32)
        missing = []
        with self._recent_lock:
            for i, key in enumerate(keys):
                found = self._recent.get(key)
                if found is None:
                    missing.append(i)
                else:
                    out[i] = found
        if missing:
            fresh = self._run([texts[i] for i in missing], [(SENTENCE_OUTPUT, self._width)])[0]
            out[missing] = fresh
            self._remember([keys[i] for i in missing], fresh)
        return out

    def _remember(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        with self._recent_lock:
            for key, row in zip(keys, vectors, strict=True):
                self._recent[key] = row.copy()
                self._recent.move_to_end(key)
            while len(self._recent) > RECENT_VECTORS:
                self._recent.popitem(last=False)

    def _run(self, texts: Sequence[str], outputs: Sequence[tuple[str, int]]) -> list[np.ndarray]:
        """Graph outputs ``(name, width)`` for every text, each ``(len(texts), width)``."""
        out = [np.zeros((len(texts), width), dtype=np.float32) for _name, width in outputs]
        if not texts:
            return out
        names = [name for name, _width in outputs]
        encodings = self._tokenizer.encode_batch([_text(t) for t in texts])
        ids = [e.ids for e in encodings]
        order = np.argsort([len(x) for x in ids], kind="stable")
        chunks = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]

        def run(rows: np.ndarray) -> None:
            input_ids, attention = pad_ids([ids[i] for i in rows])
            feeds = {"input_ids": input_ids, "attention_mask": attention}
            with self.around_inference():
                values = self._session.run(names, feeds)
            for array, value in zip(out, values, strict=True):
                array[rows] = value

        pool = self._workers() if len(chunks) > 1 else None
        if pool is None:
            for rows in chunks:
                run(rows)
        else:
            # Longest sub-batches first, so that no thread is left with a long tail.
            for future in [pool.submit(run, rows) for rows in reversed(chunks)]:
                future.result()
        return out

    def _workers(self) -> ThreadPoolExecutor | None:
        """The thread pool for sub-batches (created on first use); None for one thread."""
        threads = self.threads if self.threads is not None else _usable_cores()
        if threads <= 1:
            return None
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(threads, thread_name_prefix="rostra-accurate")
            return self._pool


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"texts must be strings, got {type(value).__name__}", field="texts")
    return value


def pad_ids(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token ids to the longest row; the attention mask hides the padding (training
    pads the same way)."""
    width = max(len(x) for x in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return input_ids, mask
