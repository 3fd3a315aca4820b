"""The SAM 2.1 model: every network of the checkpoint, wired for images (and held for the tracker)."""

from __future__ import annotations

import torch
from torch import nn

from ..common import MLP
from ..prompt_encoder import PromptEncoder
from .image_encoder import Sam2ImageEncoder
from .mask_decoder import Sam2MaskDecoder

#: ImageNet statistics of the [0, 1] RGB input.
PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)


class Sam2Model(nn.Module):
    """Holds all SAM 2.1 networks; ``state_dict()`` has exactly the keys of ``checkpoint["model"]``.

    Image segmentation uses :attr:`image_encoder`, :attr:`sam_prompt_encoder`
    and :attr:`sam_mask_decoder` (see :meth:`encode_image`); the video tracker
    also uses the memory networks and the parameters below.

    Parameters
    ----------
    image_encoder : Sam2ImageEncoder
    sam_prompt_encoder : PromptEncoder
        SAM's prompt encoder (identical layout); boxes are given to it as two
        points with labels 2 and 3, see :func:`promptseg.model.sam2.prompts.sparse_tokens`.
    sam_mask_decoder : Sam2MaskDecoder
    memory_attention, memory_encoder : nn.Module
        The tracker's networks (``memory_attention.``, ``memory_encoder.`` keys).
    num_maskmem : int
        Memory frames (7).
    mem_dim : int
        Memory channels (64).

    Attributes
    ----------
    maskmem_tpos_enc : (num_maskmem, 1, 1, mem_dim)
        Temporal encoding of each memory slot.
    no_mem_embed, no_mem_pos_enc : (1, 1, C)
        Added to the 64 x 64 features of a frame without memories (every
        single image: :meth:`encode_image` adds ``no_mem_embed``).
    no_obj_ptr : (1, C)
        Object pointer used when the object is judged absent.
    no_obj_embed_spatial : (1, mem_dim)
        Added to memory features of frames where the object is absent.
    mask_downsample : Conv2d(1, 1, 4, stride 4)
        Mask input (image size) to the decoder's mask-prompt size.
    obj_ptr_proj : MLP(C, C, C, 3)
        Output mask token -> object pointer.
    obj_ptr_tpos_proj : Linear(C, mem_dim)
        Temporal encoding of object pointers.
    """

    def __init__(
        self,
        image_encoder: Sam2ImageEncoder,
        sam_prompt_encoder: PromptEncoder,
        sam_mask_decoder: Sam2MaskDecoder,
        memory_attention: nn.Module,
        memory_encoder: nn.Module,
        *,
        num_maskmem: int = 7,
        mem_dim: int = 64,
    ) -> None:
        super().__init__()
        dim = sam_mask_decoder.transformer_dim
        self.image_encoder = image_encoder
        self.sam_prompt_encoder = sam_prompt_encoder
        self.sam_mask_decoder = sam_mask_decoder
        self.memory_attention = memory_attention
        self.memory_encoder = memory_encoder
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(num_maskmem, 1, 1, mem_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, dim))
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, dim))
        self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem_dim))
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.obj_ptr_proj = MLP(dim, dim, dim, 3)
        self.obj_ptr_tpos_proj = nn.Linear(dim, mem_dim)
        self.num_maskmem = num_maskmem
        self.mem_dim = mem_dim

    @property
    def image_size(self) -> int:
        """Side of the square model input (1024)."""
        return self.sam_prompt_encoder.input_image_size[0]

    @property
    def img_size(self) -> int:
        """:attr:`image_size` under SAM 1's name (what tiling reads as a model's native tile side)."""
        return self.image_size

    def backbone(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder input (B, 3, S, S) -> neck maps, finest first, the two finest through ``conv_s0`` / ``conv_s1``.

        Returns
        -------
        list of torch.Tensor
            (B, C/8, S/4, S/4), (B, C/4, S/8, S/8), (B, C, S/16, S/16): the
            decoder's high-resolution features and the image features
            *without* ``no_mem_embed`` (the tracker adds memories instead).
        """
        dec = self.sam_mask_decoder
        # the neck composes each 1x1 convolution with its level's lateral one
        return self.image_encoder(x, heads={0: dec.conv_s0, 1: dec.conv_s1})

    def encode_image(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The image predictor's features of a single image.

        Parameters
        ----------
        x : torch.Tensor, (B, 3, S, S)
            Encoder input (see :meth:`promptseg.model.sam2.transforms.Sam2Geometry.preprocess`).

        Returns
        -------
        dict
            ``image_embed`` (B, C, S/16, S/16) with ``no_mem_embed`` added;
            ``high_res_feat_0`` (B, C/8, S/4, S/4) and ``high_res_feat_1``
            (B, C/4, S/8, S/8), after ``conv_s0`` / ``conv_s1``.
        """
        s0, s1, embed = self.backbone(x)
        embed = embed + self.no_mem_embed.view(1, -1, 1, 1)
        return {"image_embed": embed, "high_res_feat_0": s0, "high_res_feat_1": s1}
