"""A forget scenario: what one unlearning request asks to forget.

A scenario forgets whole classes (``kind == "class"``: every sample whose label is one of
``classes``, on every split) or chosen training samples (``kind == "sample"``: the training
split's rows ``sample_ids``; no test sample belongs to it). Nodes, methods and the scoring pass
this object; the catalog stores it as a JSON dict (``to_dict``/``from_dict``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

Kind = Literal["class", "sample"]
SPLITS = ("train", "val", "test")


def class_mask(labels: Tensor, classes: Iterable[int]) -> Tensor:
    """Which samples of ``labels`` belong to one of ``classes``."""
    return torch.isin(labels, torch.tensor(list(classes), dtype=labels.dtype, device=labels.device))


@dataclass(frozen=True)
class ForgetScenario:
    """One forget request: its ``name`` (a results row's ``forget_classes``), and the
    ``classes`` or training ``sample_ids`` it forgets."""

    name: str
    classes: tuple[int, ...] = ()
    sample_ids: tuple[int, ...] = ()
    kind: Kind = "class"

    def __post_init__(self) -> None:
        if self.kind not in ("class", "sample"):
            raise ValueError(f"Forget scenario {self.name}: kind must be class or sample.")
        if self.kind == "class" and (not self.classes or self.sample_ids):
            raise ValueError(f"Forget scenario {self.name}: a class scenario lists its classes.")
        if self.kind == "sample" and not self.sample_ids:
            raise ValueError(f"Forget scenario {self.name}: a sample scenario lists sample ids.")

    @classmethod
    def of_classes(cls, classes: Sequence[int]) -> ForgetScenario:
        """Forget ``classes``, named by them (``3``, ``1+7``)."""
        classes = tuple(int(c) for c in classes)
        return cls("+".join(map(str, classes)), classes)

    @classmethod
    def of_samples(cls, name: str, sample_ids: Iterable[int]) -> ForgetScenario:
        return cls(name, sample_ids=tuple(int(i) for i in sample_ids), kind="sample")

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> ForgetScenario:
        """From the catalog's JSON (a dict without ``kind`` is a class scenario)."""
        return cls(
            str(saved["name"]),
            tuple(int(c) for c in saved.get("classes") or ()),
            tuple(int(i) for i in saved.get("sample_ids") or ()),
            saved.get("kind", "class"),
        )

    def to_dict(self) -> dict[str, Any]:
        saved: dict[str, Any] = {"name": self.name, "classes": list(self.classes)}
        if self.kind == "sample":
            saved |= {"kind": self.kind, "sample_ids": list(self.sample_ids)}
        return saved

    @property
    def single_class(self) -> int:
        """The one class a single-class scenario forgets (what the oracles are retrained for)."""
        if self.kind != "class" or len(self.classes) != 1:
            raise ValueError(
                f"Forget scenario {self.name}: only single-class scenarios have retrained oracles."
            )
        return self.classes[0]

    def check(self, num_classes: int) -> None:
        """Refuse classes that are not labels of the prepared dataset (``0..num_classes-1``),
        and a request that would forget every class."""
        key = "forget_classes" if len(self.classes) == 1 else "forget_class_sets"
        bad = [c for c in self.classes if not 0 <= c < num_classes]
        if bad:
            sets = f'; name sets of its labels (--params "unlearning.{key}=[0+1]") or [] for none'
            fix = sets if len(self.classes) > 1 else ""
            raise ValueError(
                f"unlearning.{key} contains {bad}, not classes of the prepared dataset "
                f"(labels 0..{num_classes - 1}, see class_manifest.json){fix}."
            )
        if len(self.classes) >= num_classes:
            raise ValueError(
                f"unlearning.{key} has {self.name}, every class of the prepared dataset: "
                "nothing would be left to retain; forget fewer classes."
            )

    def forget_mask(self, labels: Tensor, split: str = "train") -> Tensor:
        """Which samples of a split (its ``labels``) this scenario forgets."""
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; one of {', '.join(SPLITS)}.")
        if self.kind == "class":
            return class_mask(labels, self.classes)
        mask = torch.zeros(len(labels), dtype=torch.bool, device=labels.device)
        if split == "train":
            mask[list(self.sample_ids)] = True
        return mask


def class_set(value: Any, where: str) -> tuple[int, ...]:
    """A set of classes forgotten in one request, as parameters write it (``"1+7"``, ``[1, 7]``)
    -> ``(1, 7)``: at least two distinct class ids, kept in the order given."""
    parts = value.split("+") if isinstance(value, str) else value
    try:
        classes = tuple(int(str(p).strip()) for p in parts)
    except (TypeError, ValueError):
        classes = ()
    if len(classes) < 2 or len(set(classes)) != len(classes) or min(classes) < 0:
        raise ValueError(
            f"{where} has {value!r}: a class set is two or more distinct class ids joined by "
            '"+", e.g. "1+7" (a single class belongs in unlearning.forget_classes).'
        )
    return classes


def sample_fraction_name(fraction: float) -> str:
    """A sample-wise scenario's name: ``random10`` forgets 10% of the training split."""
    return f"random{round(100 * fraction, 6):g}"


def random_sample_scenarios(
    num_train: int, fractions: Iterable[float], seed: int
) -> list[ForgetScenario]:
    """One scenario per share of the training split to forget (``0.1`` -> ``random10``): the
    first ``fraction`` of one seeded permutation of the split's rows, so the samples are drawn
    uniformly (not stratified by class) and a smaller share's samples are part of a larger's."""
    order = torch.randperm(num_train, generator=torch.Generator().manual_seed(int(seed)))
    scenarios = []
    for fraction in fractions:
        count = round(float(fraction) * num_train)
        if not 0 < count < num_train:
            raise ValueError(
                f"unlearning.sample_fractions has {fraction}: {count} of the {num_train} "
                "training samples; a share must forget at least one sample and keep one."
            )
        ids = order[:count].sort().values.tolist()
        scenarios.append(ForgetScenario.of_samples(sample_fraction_name(fraction), ids))
    return scenarios


def scenarios_from(saved: Iterable[Mapping[str, Any]]) -> list[ForgetScenario]:
    """The catalog's ``forget_scenarios`` (JSON dicts) as scenarios."""
    return [ForgetScenario.from_dict(s) for s in saved]


def scenario_names(scenarios: Iterable[ForgetScenario]) -> list[str]:
    return [s.name for s in scenarios]
