"""DataLoader factories: fast, reproducible, distributed-ready loaders.

:func:`make_loader` returns a :class:`TabularLoader`, a real
:class:`torch.utils.data.DataLoader` that fetches whole batches from datasets with
batch indexing, with epoch orders that depend only on ``(seed, epoch)``.
"""

from tabloader._plan import REMAINDERS
from tabloader.loaders._loader import (
    TabularLoader,
    iter_batches,
    make_loader,
    supports_batch_indexing,
)

__all__ = [
    "REMAINDERS",
    "TabularLoader",
    "iter_batches",
    "make_loader",
    "supports_batch_indexing",
]
