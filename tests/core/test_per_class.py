import torch
import torch.nn.functional as F

from hyperforget.core.per_class import per_class_from_logits


def test_per_class_statistics_match_plain_cross_entropy_and_argmax():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 20, 4, generator=generator)  # 3 networks, 20 samples, 4 classes
    labels = torch.tensor([0, 1, 2] * 6 + [0, 1])  # class 3 has no samples
    stats = per_class_from_logits(logits, labels, 4)
    for n in range(3):
        losses = F.cross_entropy(logits[n], labels, reduction="none")
        correct = (logits[n].argmax(1) == labels).float()
        for k in range(3):
            mask = labels == k
            torch.testing.assert_close(stats.loss[n, k], losses[mask].mean())
            torch.testing.assert_close(stats.acc[n, k], correct[mask].mean())
        torch.testing.assert_close(stats.total_loss[n], losses.mean())
        torch.testing.assert_close(stats.total_acc[n], correct.mean())
    assert stats.loss[:, 3].isnan().all() and stats.acc[:, 3].isnan().all()
