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
    "efficientnet_b6": (40960143, 2304, 38586347567),
    "efficientnet_b7": (64097687, 2560, 76281664303),
    "efficientnet_lite0": (3413024, 1280, 768389052),
    "efficientnet_lite1": (4189344, 1280, 1198661596),
    "efficientnet_lite2": (4869168, 1280, 1717976956),
    "efficientnet_lite3": (6992768, 1280, 2765483716),
    "efficientnet_lite4": (11837936, 1280, 5105640684),
    "efficientnet_v2_b0": (5919312, 1280, 1445314927),
    "efficientnet_v2_b1": (6931124, 1280, 2408992971),
    "efficientnet_v2_b2": (8769374, 1408, 3416580569),
    "efficientnet_v2_b3": (12930622, 1536, 6058887313),
    "efficientnet_v2_s": (20331360, 1280, 16817480996),
    "inception_resnet_v2": (54336736, 1536, 26352532434),
    "inception_v3": (21802784, 2048, 11447403090),
    "mobilenet": (3228864, 1024, 1135783996),
    "mobilenet_v2": (2257984, 1280, 599568764),
    "mobilenet_v3_large": (2996352, 960, 434671396),
    "mobilenet_v3_small": (939120, 576, 113148372),
    "nasnet_mobile": (4269716, 1056, 1136852780),
    "resnet101": (42658176, 2048, 15163137087),
    "resnet101_v2": (42626560, 2048, 14405479484),
    "resnet152": (58370944, 2048, 22598116415),
    "resnet152_v2": (58331648, 2048, 21838351420),
    "resnet50": (23587712, 2048, 7730164799),
    "resnet50_v2": (23564800, 2048, 6974213180),
    "vgg16": (14714688, 512, 30713256511),
    "vgg19": (20024384, 512, 39038157375),
    "xception": (20861480, 2048, 16727720722),
}

STATS: dict[str, ModelStats] = {name: ModelStats(*row) for name, row in _FIGURES.items()}
