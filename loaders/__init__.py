"""DataLoader factories: fast, reproducible, distributed-ready loaders.

:func:`make_loader` returns a :class:`TabularLoader`, a real
:class:`torch.utils.data.DataLoader` whose epoch orders depend only on ``(seed, epoch)``.

**Whole batches.** Datasets with batch indexing (:func:`supports_batch_indexing`: a
TabularDataset, a TensorDataset, or a dataset declaring ``supports_batch_indexing =
True``) are read one whole batch at a time: ``dataset[index_tensor]``, one
``index_select`` per tensor over a ``torch.randperm`` order, no per-row ``__getitem__``
and no per-row collate. ``collate_fn`` is then applied once to each batch. Other
map-style datasets are read row by row with the same epoch orders (``__getitems__``
when they have it, as torch does), and ``collate_fn`` is the DataLoader's.

**Epochs and seeds.** Each ``iter(loader)`` starts the next epoch; ``set_epoch`` picks
it. The order is drawn in the main process, so ``num_workers`` does not change the
batches; each worker is seeded (``random``, numpy, torch) from ``(seed, epoch)``. Global
RNG state is never used, except for one draw when ``seed=None``.

**Ranks.** With ``rank`` and ``world_size`` each rank reads its share of every epoch by
the rule of :mod:`tabloader._plan` (round-robin over the epoch's order; all ranks use the
same seed), so ``W`` ranks with batch ``B`` read, step by step, the batches of one
process with batch ``W * B``. ``remainder`` says what happens when the rows do not divide
by ``world_size``: ``"pad"`` repeats rows of the epoch so that every rank gets
``ceil(n / world_size)`` rows (like :class:`~torch.utils.data.DistributedSampler`);
``"drop"`` leaves out the last ``n % world_size`` rows of the epoch's order; ``"uneven"``
reads every row exactly once and ranks may differ by one row, hence by one batch. Use
``"uneven"`` for evaluation: it never counts a row twice.

**Devices and pinning.** ``pin_memory`` returns batches in page-locked memory, so that
``batch.to("cuda", non_blocking=True)`` overlaps with compute. ``device=`` copies the
dataset's tensors to that device once (the dataset itself is not modified) and gathers
each batch there: no host-to-device copy per batch. It needs a TabularDataset or
TensorDataset whose ``__getitem__`` is not overridden and ``num_workers=0``; pinning is
then off. A dataset that already lives on an accelerator is gathered there.

**Workers.** With ``num_workers > 0`` the workers start by ``"forkserver"`` (``"spawn"``
where there is no fork server) unless ``multiprocessing_context`` says otherwise: a
``fork()`` of the main process, which runs threads (torch's, pyarrow's, the user's), can
deadlock inside ``fork()`` (CPython gh-112275, fixed only in later 3.11/3.12 patch
releases), and the main process would wait forever. The dataset, ``collate_fn`` and
``worker_init_fn`` must then pickle (TabularDataset and the streams do; use module-level
functions, not lambdas), and a script must start its loaders under ``if __name__ ==
"__main__":``. The fork server imports torch and tabloader once, when it starts, and
forks the workers of every epoch from there. Start-up, ``iter(loader)`` to the first
batch (2 workers, 100,000 x 32 rows, Python 3.11, 2 CPUs; ``python
benchmarks/bench_loaders.py --startup --rows 100000``): ``"forkserver"`` 1.29 s for the
first epoch of the process (the server starts), then 0.027 s per epoch; ``"spawn"``
1.23 s every epoch; ``"fork"`` 0.021 s. The server also imports the script's module
(``__main__``): a script that imports scikit-learn at its top level had workers take
0.7 s per epoch to start (import it inside the ``__main__`` block instead).
``persistent_workers=True`` pays the start-up once.
``timeout=`` turns a worker that never answers into a ``RuntimeError`` (allow for the
start-up: the first batch waits for it).

**Streams.** A :class:`~tabloader.datasets.ParquetStream` or
:class:`~tabloader.datasets.CsvStream` builds its own batches (``batch_size`` is ``None``
or the stream's). ``shuffle=True``, ``seed``, ``drop_last=True``, ``rank`` and
``world_size`` override the stream's settings in a copy (the stream itself is not
modified); ``num_workers`` and ``pin_memory`` apply as usual; ``remainder`` does not
apply: streams give every rank the same number of batches (:mod:`tabloader._plan`).
"""

from tabloader._plan import REMAINDERS
from tabloader.loaders._dataloader import TabularLoader
from tabloader.loaders._fetch import supports_batch_indexing
from tabloader.loaders._loader import iter_batches, make_loader

__all__ = [
    "REMAINDERS",
    "TabularLoader",
    "iter_batches",
    "make_loader",
    "supports_batch_indexing",
]
