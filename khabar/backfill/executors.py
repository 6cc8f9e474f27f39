"""Where a backfill's parallel stages run: this process, or a Ray cluster.

Both executors run the same functions (khabar/stages/) on the same pieces; they differ
only in where. `map` runs a function over argument tuples (stage (a) per file, stage (c)
per day) and yields results as they finish; `embed` turns batches of (keys, texts) into
vectors (stage (b)): in this process with one encoder, or with Ray Data's `map_batches`
over an actor pool, the model loaded once per actor.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

CRASH_WORKER_ENV = "KHABAR_CRASH_WORKER"  # test hook: see Embedder.__call__
FORWARDED_ENV = ("KHABAR_CACHE", "KHABAR_MODEL", "KHABAR_REFERENCE_DIR", CRASH_WORKER_ENV)
Batch = tuple[list[str], list[str]]  # (embed keys, model inputs)


class Executor(Protocol):
    name: str
    workers: int

    def map(self, fn: Callable[..., Any], args: list[tuple]) -> Iterator[tuple[int, Any]]: ...
    def embed(self, batches: list[Batch]) -> Iterator[tuple[list[str], np.ndarray]]: ...
    def close(self) -> None: ...


def make_encoder(model: str | None):
    from embed import model as modellib
    from embed.encoder import Encoder

    return Encoder(*modellib.runtime(model))


class LocalExecutor:
    """Everything in this process, in order: the reference the Ray route must equal."""

    name = "local"
    workers = 1

    def __init__(self, model: str | None):
        self.model = model
        self._encoder = None

    def map(self, fn: Callable[..., Any], args: list[tuple]) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            yield i, fn(*a)

    def embed(self, batches: list[Batch]) -> Iterator[tuple[list[str], np.ndarray]]:
        for keys, texts in batches:
            if self._encoder is None:
                self._encoder = make_encoder(self.model)
            yield keys, self._encoder.encode(texts)

    def close(self) -> None:
        self._encoder = None


class Embedder:
    """A Ray Data actor: the model loaded once, then batch after batch."""

    def __init__(self, model: str | None):
        self.encoder = make_encoder(model)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        marker = os.environ.get(CRASH_WORKER_ENV)
        if marker and not Path(marker).exists():  # the kill test: die once, mid-stage
            Path(marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        texts = [str(t) for t in batch["text"]]
        return {"key": batch["key"], "vector": self.encoder.encode(texts)}


def _reachable(address: str, timeout: float = 5.0) -> None:
    import socket

    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    try:
        socket.create_connection((host or target, int(port or 6379)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"nothing answers at {target}: {exc}") from exc


class RayExecutor:
    """Stages (a)-(c) on Ray: tasks for files and days, an actor pool for the model.

    Without `address` a local Ray is started on 127.0.0.1 with `workers` CPUs and no
    dashboard; with one, the driver joins that cluster (`ray start --head` on one machine,
    `ray start --address HEAD:6379` on the others) and the input files must be readable at
    the same paths on every node."""

    name = "ray"

    def __init__(self, model: str | None, workers: int, address: str | None = None):
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError(
                "--executor ray needs Ray: pip install 'khabar[ray]' (or run with --executor local)"
            ) from exc
        self.ray = ray
        self.model = model
        self.workers = workers
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        runtime_env = {"env_vars": env} if env else None
        if not ray.is_initialized():
            if address:
                try:
                    _reachable(address)  # Ray itself retries an absent head for minutes
                    ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise RuntimeError(
                        f"cannot join the Ray cluster at {address} ({exc}): start one with "
                        "`ray start --head`, or leave out --address for a local Ray"
                    ) from exc
            else:
                ray.init(
                    num_cpus=workers,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    runtime_env=runtime_env,
                    log_to_driver=False,
                    configure_logging=False,
                )
            self._started = True
        else:
            self._started = False
        import logging
        import warnings

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # khabar shows its own, per stage
        ctx.print_on_execution_start = False
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="ray.data")

    def map(self, fn: Callable[..., Any], args: list[tuple]) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=2)(fn)
        refs = {remote.remote(*a): i for i, a in enumerate(args)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield refs[done[0]], ray.get(done[0])

    def embed(self, batches: list[Batch]) -> Iterator[tuple[list[str], np.ndarray]]:
        if not batches:
            return
        rows = [
            {"key": k, "text": t}
            for keys, texts in batches
            for k, t in zip(keys, texts, strict=True)
        ]
        size = max(len(b[0]) for b in batches)
        ds = self.ray.data.from_items(rows, override_num_blocks=max(1, len(batches)))
        out = ds.map_batches(
            Embedder,
            fn_constructor_kwargs={"model": self.model},
            batch_size=size,
            batch_format="numpy",
            concurrency=self.workers,
            num_cpus=1,
        )
        for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
            yield [str(k) for k in batch["key"]], np.asarray(batch["vector"], dtype=np.float32)

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
