"""Executors: where a sweep's cells run, behind one small interface.

An :class:`Executor` is a context manager (start-up and shut-down) whose :meth:`Executor.run` takes
``(key, config)`` pairs and yields ``(key, result)`` as cells finish, in any order. Each cell runs
:func:`dyncore.sweeps.run_cell` with one torch thread, so the same seeds give the same numbers on
every executor. A cell whose worker process dies (killed, out of memory, a lost node) is started
again up to ``retries`` times, then recorded as failed; it never stops the sweep.

- ``local``: a process pool on this machine (``forkserver``, else ``spawn``; ``workers`` = the cores by default).
- ``ray``: the optional extra ``dyncore[ray]``; ``ray.init()`` starts an embedded local cluster
  (and shuts it down) when no address is given, ``ray.init(address=...)`` joins an existing one.
  Cells are Ray tasks declaring their resources: one CPU, and one GPU for a cell trained on cuda.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

from dyncore.errors import ConfigError

EXECUTORS = ("local", "ray")


def default_workers() -> int:
    """The cores this process may use (``os.sched_getaffinity`` where it exists)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


#: What runs one cell: ``function(config, threads) -> result`` (a sweep passes :func:`dyncore.sweeps.run_cell`).
CellFunction = Callable[[dict[str, Any], int], dict[str, Any]]


def failed_result(error: str) -> dict[str, Any]:
    """The result of a cell that never returned (its worker was lost more often than retried)."""
    return {"status": "failed", "error": error, "metrics": {}, "final_loss": None, "epochs": None,
            "train_s": None, "eval_s": None, "wall_s": None, "files": {}}


def make_executor(name: str, *, function: CellFunction, workers: int | None = None, address: str | None = None,
                  retries: int = 3, gpus: bool = False) -> Executor:
    """The executor called ``name`` (``"local"`` or ``"ray"``) running ``function`` per cell, checked before any cell runs.

    The cell function is given, not imported: executors sit below the sweeps that use them.

    Raises:
        ConfigError: an unknown name, a bad ``workers`` or ``retries``, ``address`` without ``ray``,
            or ``ray`` when the extra is not installed.
    """
    if name not in EXECUTORS:
        from dyncore.errors import UnknownNameError

        raise UnknownNameError("executor", name, EXECUTORS)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")
    if name == "local":
        if address is not None:
            raise ConfigError("--address is for the ray executor; add --executor ray")
        if gpus:
            import torch

            if not torch.cuda.is_available():
                raise ConfigError("cells ask for device = \"cuda\" but no CUDA GPU is available here; use device = \"cpu\"")
        return LocalExecutor(workers or default_workers(), retries, function=function)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("the ray executor needs Ray: pip install 'dyncore[ray]' (or use --executor local)") from None
    return RayExecutor(workers, address, retries, function=function)


class Executor:
    """Runs cells and yields their results as they finish; subclasses set :attr:`name` and implement :meth:`run`."""

    name = ""
    #: Cells running at once (for progress and the time-left estimate).
    workers: int = 1

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(self, tasks: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Run every ``(key, config)`` and yield ``(key, result)`` as each finishes (any order, each key once).

        A ``KeyboardInterrupt`` stops the workers; cells not yet yielded are lost (the sweep reruns them).
        """
        raise NotImplementedError


#: In a local worker: where it reports ``(key, pid)`` as it starts a cell (so a death is charged to the right cell).
_STARTS: Any = None


def _init_worker(threads: int, starts: Any) -> None:
    """A local worker: Ctrl-C is the driver's business (it stops the pool), and torch gets ``threads`` threads."""
    global _STARTS
    _STARTS = starts
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set in this process
        pass


def _run_reported(function: Callable[..., dict[str, Any]], key: str, config: dict[str, Any], threads: int) -> dict[str, Any]:
    """Tell the driver which cell this process starts, then run it."""
    if _STARTS is not None:
        _STARTS.put((key, os.getpid()))
    return function(config, threads)


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine, one torch thread each.

    ``function(config, threads) -> result`` runs a cell (a sweep's is :func:`dyncore.sweeps.run_cell`).
    """

    name = "local"

    def __init__(self, workers: int, retries: int = 3, threads: int = 1, *, function: CellFunction) -> None:
        self.workers, self.retries, self.threads, self.function = workers, retries, threads, function

    def run(self, tasks: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        function = self.function
        logging.getLogger("dyncore").info("torch threads: %d per worker, %d worker processes (the sweep's cells run in parallel)",
                                          self.threads, self.workers)
        pending = dict(tasks)
        deaths = dict.fromkeys(pending, 0)
        context = _context()
        while pending:
            starts = context.SimpleQueue()  # put() writes at once: a worker killed right after still told us
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(pending)), mp_context=context,
                                       initializer=_init_worker, initargs=(self.threads, starts))
            futures = {pool.submit(_run_reported, function, key, config, self.threads): key for key, config in pending.items()}
            running: dict[int, str] = {}  # worker pid -> the cell it started last
            processes: dict[int, Any] = dict(getattr(pool, "_processes", None) or {})  # started by the first submit
            broken = False
            try:
                remaining = set(futures)
                while remaining and not broken:
                    done, remaining = wait(remaining, timeout=0.2, return_when=FIRST_COMPLETED)
                    processes.update(getattr(pool, "_processes", None) or {})
                    _drain(starts, running)
                    for future in done:
                        try:
                            result = future.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        except Exception as exc:  # the result could not come back (e.g. not picklable)
                            result = failed_result(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
                        key = futures[future]
                        del pending[key]
                        yield key, result
                if broken:
                    _drain(starts, running)
                    for key in _culprits(running, processes, pending):
                        deaths[key] += 1
                    for key in [k for k in pending if deaths[k] > self.retries]:
                        del pending[key]
                        yield key, failed_result(f"its worker process died {deaths[key]} times (killed, or out of memory); "
                                                 f"gave up after {self.retries} retries")
            finally:
                _stop(pool)
                starts.close()


def _drain(starts: Any, running: dict[int, str]) -> None:
    while not starts.empty():
        key, pid = starts.get()
        running[pid] = key


def _culprits(running: dict[int, str], processes: dict[int, Any], pending: dict[str, Any]) -> list[str]:
    """The unfinished cells whose worker died of its own (not by the pool's SIGTERM to the others once one died).

    A worker that exits with a status (>= 0) once the pool broke was not killed: it ended as its queues closed.

    A worker that started and died between two polls of the pool was never seen: its cell is charged
    when no death is on record, rather than the cells whose workers were seen to be stopped by the pool.
    Without either (e.g. a SIGTERM from outside), every unfinished cell that had started is charged.
    """
    started = {pid: key for pid, key in running.items() if key in pending}
    dead, unseen = [], []
    for pid, key in started.items():
        process = processes.get(pid)
        if process is None:
            unseen.append(key)
            continue
        process.join(timeout=5)
        if process.exitcode is not None and process.exitcode < 0 and process.exitcode != -signal.SIGTERM:
            dead.append(key)  # killed by a signal of its own (SIGKILL, out of memory, a crash), not the pool's SIGTERM
    return dead or unseen or list(started.values())


def _context() -> Any:
    """``forkserver`` where it exists (a server that imported torch once forks each worker), else ``spawn``.

    Never plain ``fork``: it would copy the parent's torch thread pools and locks.
    """
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "dyncore.sweeps"])
        return context
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def _stop(pool: Any) -> None:
    """Shut a process pool down now: pending cells are cancelled and running workers terminated."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


class RayExecutor(Executor):
    """Cells as Ray tasks: on an embedded local cluster (no address) or on the cluster at ``address``."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, retries: int = 3, threads: int = 1, *,
                 function: CellFunction) -> None:
        self.address, self.retries, self.threads, self.function = address, retries, threads, function
        self.workers = workers or (default_workers() if address is None else 1)
        self._started = False

    def __enter__(self) -> RayExecutor:
        import ray

        if not ray.is_initialized():
            if self.address is None:
                ray.init(num_cpus=self.workers, include_dashboard=False, logging_level="WARNING", log_to_driver=False,
                         configure_logging=True)
            else:
                try:
                    ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
                except (ConnectionError, ValueError, RuntimeError) as exc:
                    raise ConfigError(f"cannot join the Ray cluster at {self.address}: {' '.join(str(exc).split())[:300]}; "
                                      "start one with `ray start --head` or drop --address") from None
                self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.threads)
            self._started = True
        return self

    def __exit__(self, *exc: Any) -> None:
        import ray

        if self._started:
            ray.shutdown()
            self._started = False

    def run(self, tasks: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
        import ray

        remote = ray.remote(self.function)
        refs = {}
        for key, config in tasks:
            gpu = str(config["trainer"]["options"].get("device", "cpu")).startswith("cuda")
            task = remote.options(num_cpus=self.threads, num_gpus=1 if gpu else 0, max_retries=self.retries,
                                  retry_exceptions=False)
            refs[task.remote(config, self.threads)] = key
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    key = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the worker died more often than retried, a lost node
                        text = " ".join(str(exc).split())
                        result = failed_result(f"ray: {type(exc).__name__} after {self.retries} retries: {text[:300]}")
                    yield key, result
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)


__all__ = ["Executor", "LocalExecutor", "RayExecutor", "make_executor", "default_workers", "failed_result", "EXECUTORS"]
