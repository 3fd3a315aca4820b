"""SAM 2.1 networks in plain PyTorch: Hiera image encoder, FPN neck, SAM heads, memory.

The modules here load the official SAM 2.1 checkpoints (``checkpoint["model"]``)
strictly.  This package's ``__init__`` imports nothing heavy: the registry reads
:mod:`promptseg.model.sam2.config` without importing torch networks.
"""
