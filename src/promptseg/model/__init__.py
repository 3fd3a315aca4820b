"""Pure-torch Segment-Anything-family networks, builders and checkpoints.

Importing this package asks PyTorch's CPU allocator to back large tensors
with transparent huge pages (``THP_MEM_ALLOC_ENABLE=1``, unless the user set
it).  The encoders allocate activations of tens of MB; with 4 KB pages the
kernel's page faults cost as much as the arithmetic.
"""

import os

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
