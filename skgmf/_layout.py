"""The NumPy layout of a minibatch epoch: its training order and the ids each batch uses."""
# License: BSD 3 clause

import numpy as np

from ._encoding import stable_argsort


class EpochLayout:
    """The NumPy half of a training epoch: rows in training order, and per field
    which embedding rows every minibatch uses.

    A minibatch is a set: the order of its rows does not change its gradient. So
    the rows of every batch are put in order of their first field's id (users),
    whose gradients then sum with a sorted segment sum and no gather; for every
    other field, the batch's positions in that field's id order are given. And
    lazy Adam reads and writes only the distinct rows a batch uses, so a step costs
    the same whatever the size of the tables.

    Everything is computed for the whole epoch at once, in time linear in its
    number of rows: the rows sorted by each field's id are computed once per set of
    rows (once per fit, or per epoch when the classifier draws new negatives), and
    each epoch only stable-sorts them by their batch number, a radix sort.

    Parameters
    ----------
    sizes : list of int
        Number of rows of every field's table.
    """

    def __init__(self, sizes):
        self.sizes = sizes
        self._rows, self._by_field = None, None

    def epoch(self, perm, idx, y, weight, batch_size):
        """Lay out one epoch.

        Parameters
        ----------
        perm : ndarray of shape (n_samples,)
            The epoch's random order: batch ``b`` holds the rows
            ``perm[b * batch_size:(b + 1) * batch_size]``.
        idx : ndarray of shape (n_samples, n_fields), dtype=int32
            Embedding rows of every field.
        y, weight : ndarray of shape (n_samples,)
        batch_size : int

        Returns
        -------
        ids : list of ndarray of shape (n_samples,), dtype=int32
            Every field's embedding rows in training order.
        y, weight : ndarray of shape (n_samples,)
            In training order.
        rows : list of tuple
            For every field, ``(order, segments, unique, offsets)`` (no ``order``
            for the first field): ``order`` holds, per batch, the positions within
            the batch of its rows sorted by the field's id; ``segments`` the index
            of each of them among the batch's distinct ids; the distinct ids of
            batch ``b`` are ``unique[offsets[b]:offsets[b + 1]]`` (``unique`` is
            padded with zeros to ``n_samples``).
        """
        n = len(perm)
        if idx is not self._rows:  # new rows: sort them by each field's id once
            self._rows = idx
            self._by_field = [stable_argsort(idx[:, f], size)
                              for f, size in enumerate(self.sizes)]
        n_batches = -(-n // batch_size)
        # int32 throughout: the layout's memory is a few int32 arrays of n_samples.
        batch_of = np.empty(n, dtype=np.int32)
        batch_of[perm] = np.arange(n, dtype=np.int32) // batch_size
        starts = np.arange(0, n, batch_size, dtype=np.int32)
        sizes = np.diff(np.append(starts, n))
        rows, order = [], None
        for f, by_id in enumerate(self._by_field):
            # Rows grouped by batch, in id order within each batch.
            grouped = by_id[stable_argsort(batch_of[by_id], n_batches)]
            sorted_ids = idx[grouped, f]
            new = np.empty(n, dtype=bool)
            new[0] = True
            np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=new[1:])
            new[starts] = True
            segments = np.cumsum(new, dtype=np.int32)
            segments -= 1
            offsets = np.append(segments[starts], segments[-1] + 1).astype(np.int32)
            segments -= np.repeat(offsets[:-1], sizes)
            # Padded to n_samples: the same shape every epoch, so that the epoch
            # function is not traced again when the count of distinct ids changes.
            unique = np.zeros(n, dtype=sorted_ids.dtype)
            unique[: offsets[-1]] = sorted_ids[new]
            del sorted_ids, new
            if f == 0:
                order = grouped  # the training order
                position = np.empty(n, dtype=np.int32)
                position[order] = np.arange(n, dtype=np.int32)
                rows.append((segments, unique, offsets))
            else:
                local = position[grouped]
                local -= np.repeat(starts, sizes)
                rows.append((local, segments, unique, offsets))
            del grouped
        ids = [np.ascontiguousarray(idx[order, f]) for f in range(idx.shape[1])]
        return ids, y[order], weight[order], rows


def prepare_epoch(epochs, layout, batch_size):
    """Draw the next epoch's rows from ``epochs`` and lay them out with ``layout``.

    ``epochs`` yields ``(perm, (idx, y, sample_weight))`` (see
    :func:`skgmf._adam.train`). Returns ``(ids, y, weight, rows, batch_size)``:
    :meth:`EpochLayout.epoch`'s output and the batch size, at most the number of
    rows. NumPy only: the Adam engine runs it in a thread while TensorFlow trains.
    """
    perm, (idx, y, weight) = next(epochs)
    batch = min(batch_size, len(perm))
    return (*layout.epoch(perm, idx, y, weight, batch), batch)
