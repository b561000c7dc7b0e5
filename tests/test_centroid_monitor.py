import numpy as np
import torch

from trainer.centroid_monitor import CentroidMonitor


def test_cosine_to_the_mean_bona_fide_direction():
    generator = torch.Generator().manual_seed(0)
    batches = [[torch.randn(3, 8, generator=generator) + 2.0, torch.randn(3, 8, generator=generator)]
               for _ in range(4)]
    centroids = [torch.randn(1, 8, generator=generator), torch.randn(1, 8, generator=generator)]
    monitor = CentroidMonitor(num_heads=2)
    for batch in batches:
        monitor.update(batch)
    cosines = monitor.cosines(centroids)
    for head in range(2):
        rows = np.concatenate([b[head].numpy() for b in batches])
        mean = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).mean(0)
        c = centroids[head].numpy()[0]
        assert abs(cosines[head] - mean @ c / (np.linalg.norm(mean) * np.linalg.norm(c))) < 1e-5
    assert monitor.count == 12
    # a centroid on the bona fide direction scores 1
    toward = torch.ones(1, 8)
    assert monitor.cosines([toward, toward])[0] > 0.9
    monitor.reset()
    assert monitor.count == 0 and monitor.sums == [None, None]
