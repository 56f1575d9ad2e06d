"""Cached figures of the ImageNet models, so ``kv models`` builds none of them.

``name: (backbone parameters, pooled features, backbone FLOPs of one image at
the default size)``, as ``kerasvision.models.flops.backbone_stats`` counts them
(regenerate with ``python -m kerasvision.models.flops``; checked by
``tests/test_model_table.py``). A model missing here is built and counted.
"""

from __future__ import annotations

from kerasvision.models.registry import ModelStats

_FIGURES = {
    "convnext_tiny": (27820128, 768, 8778524019),
    "densenet121": (7037504, 1024, 5669135423),
    "efficientnet_b0": (4049571, 1280, 786882739),
    "efficientnet_b1": (6575239, 1280, 1400259183),
    "efficientnet_b2": (7768569, 1408, 2021510197),
    "efficientnet_b3": (10783535, 1536, 3714665519),
    "efficientnet_b4": (17673823, 1792, 8917663551),
    "efficientnet_b5": (28513527, 2048, 20797947327),
}

STATS: dict[str, ModelStats] = {name: ModelStats(*row) for name, row in _FIGURES.items()}
