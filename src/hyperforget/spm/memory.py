"""The SPM's memory: the embeddings ``f(x)`` of the training samples with their labels and
sample ids, an ``alive`` mask, and per-class sums and counts of the alive embeddings.

SPM-C attends over one mean embedding per class; SPM-R over the ``k`` alive entries nearest to
the query. Deleting ids marks them dead and subtracts their embeddings from the class sums: the
work is proportional to the deleted samples (plus an O(N) copy of the boolean mask, so the
stored memory is never mutated); nothing is re-encoded or retrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from hyperforget.core.scenario import class_mask
from hyperforget.spm.model import SemiParametric


def class_sums(embeddings: Tensor, labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Per-class sums ``[K, d]`` and counts ``[K]`` of embeddings."""
    sums = embeddings.new_zeros(num_classes, embeddings.shape[1])
    sums = sums.index_add(0, labels, embeddings)
    return sums, torch.bincount(labels, minlength=num_classes)


def class_means(sums: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    """One mean embedding per class that has samples, and those classes' labels."""
    present = counts > 0
    return sums[present] / counts[present].unsqueeze(1), present.nonzero().flatten()


@dataclass(frozen=True)
class Memory:
    """The memory of one SPM; every change returns a new memory."""

    embeddings: Tensor  # [N, d] f(x) of every sample ever stored
    labels: Tensor  # [N]
    sample_ids: Tensor  # [N] sorted training-sample ids
    alive: Tensor  # [N] bool
    class_sums: Tensor  # [K, d] sum of the alive embeddings per class
    class_counts: Tensor  # [K]

    @classmethod
    def build(
        cls, embeddings: Tensor, labels: Tensor, sample_ids: Tensor, num_classes: int
    ) -> Memory:
        """Every sample alive, ordered by sample id."""
        order = sample_ids.argsort()
        embeddings, labels, sample_ids = embeddings[order], labels[order], sample_ids[order]
        sums, counts = class_sums(embeddings, labels, num_classes)
        alive = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
        return cls(embeddings, labels, sample_ids, alive, sums, counts)

    @property
    def num_classes(self) -> int:
        return self.class_sums.shape[0]

    def class_entries(self) -> tuple[Tensor, Tensor]:
        """SPM-C's memory: one mean embedding per class that still has samples, and its label."""
        return class_means(self.class_sums, self.class_counts)

    def positions(self, sample_ids: Tensor) -> Tensor:
        """Where ``sample_ids`` sit in the memory; unknown ids are an error."""
        sample_ids = sample_ids.to(self.sample_ids.device)
        pos = torch.searchsorted(self.sample_ids, sample_ids).clamp(max=len(self.sample_ids) - 1)
        unknown = self.sample_ids[pos] != sample_ids
        if unknown.any():
            raise ValueError(
                f"Sample ids {sample_ids[unknown][:10].tolist()} are not in the SPM memory "
                f"(ids {int(self.sample_ids[0])}..{int(self.sample_ids[-1])}): delete ids of "
                "training samples the memory was built from."
            )
        return pos

    def delete(self, sample_ids: Tensor) -> Memory:
        """A new memory without ``sample_ids``; this one is left unchanged."""
        pos = self.positions(sample_ids).unique()
        pos = pos[self.alive[pos]]
        if int(self.alive.sum()) - len(pos) == 0:
            raise ValueError(
                "Deleting these samples would empty the SPM memory: a memory needs at least one "
                "sample to predict from. Delete fewer samples."
            )
        return self._moved(pos, sign=-1.0, alive=False)

    def restore(self, sample_ids: Tensor) -> Memory:
        """A new memory with deleted ``sample_ids`` stored again (undoes ``delete``)."""
        pos = self.positions(sample_ids).unique()
        return self._moved(pos[~self.alive[pos]], sign=1.0, alive=True)

    def delete_classes(self, classes: Sequence[int]) -> Memory:
        """Class-wise deletion: every sample of ``classes``."""
        bad = [c for c in classes if not 0 <= c < self.num_classes]
        if bad:
            raise ValueError(f"Classes {bad} are not in the memory (0..{self.num_classes - 1}).")
        chosen = class_mask(self.labels, classes)
        return self.delete(self.sample_ids[chosen & self.alive])

    def _moved(self, pos: Tensor, sign: float, alive: bool) -> Memory:
        mask = self.alive.clone()
        mask[pos] = alive
        labels = self.labels[pos]
        sums = self.class_sums.index_add(0, labels, self.embeddings[pos], alpha=sign)
        counts = self.class_counts.index_add(0, labels, torch.full_like(labels, int(sign)))
        return replace(self, alive=mask, class_sums=sums, class_counts=counts)


@torch.no_grad()
def predict(
    model: SemiParametric,
    memory: Memory,
    images: Tensor,
    mode: str,
    neighbours: int = 32,
    batch_size: int = 1024,
) -> Tensor:
    """Log-probabilities ``[B, K]`` of SPM-C (``mode="c"``) or SPM-R (``"r"``) over ``memory``."""
    if mode == "c":
        keys, labels = memory.class_entries()
    elif mode == "r":
        keys, labels = memory.embeddings[memory.alive], memory.labels[memory.alive]
    else:
        raise ValueError(f"Unknown SPM memory mode {mode!r}: use c (class means) or r (k-NN).")
    model.eval()
    outputs = []
    for batch in images.split(batch_size):
        embeddings = model.encoder(batch)
        if mode == "c":
            outputs.append(model.attend(embeddings, keys, labels, memory.num_classes))
        else:
            k = min(neighbours, len(labels))
            idx = torch.cdist(embeddings, keys).topk(k, largest=False).indices
            outputs.append(model.attend(embeddings, keys[idx], labels[idx], memory.num_classes))
    return torch.cat(outputs)


@torch.no_grad()
def build_memory(
    model: SemiParametric, images: Tensor, labels: Tensor, sample_ids: Tensor, num_classes: int
) -> Memory:
    """The memory of ``images``: their embeddings by ``model``'s encoder, in batches of 1024."""
    model.eval()
    embeddings = torch.cat([model.encoder(b) for b in images.split(1024)])
    return Memory.build(embeddings, labels, sample_ids, num_classes)
