"""The Segment-Anything model: wiring of image encoder, prompt encoder and mask decoder."""

from __future__ import annotations

from torch import nn

from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder

#: Pixel statistics of the training data (RGB, 0-255), used to normalise inputs.
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


class Sam(nn.Module):
    """Holds the three networks; the state dict layout is that of the published checkpoints.

    Image geometry (resizing, padding, coordinate scaling) lives in
    :mod:`promptseg.model.transforms`; the encode-once / predict-many logic in
    :class:`promptseg.backends.sam.SamBackend`.
    """

    def __init__(self, image_encoder: nn.Module, prompt_encoder: PromptEncoder, mask_decoder: MaskDecoder):
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder

    @property
    def img_size(self) -> int:
        """Side of the square model input (1024)."""
        return self.prompt_encoder.input_image_size[0]
