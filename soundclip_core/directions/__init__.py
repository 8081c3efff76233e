"""Instant edits by StyleSpace global directions (StyleCLIP's recipe, for sound as for text).

Once per generator and CLIP space, a table says how each StyleSpace channel moves the CLIP image embedding
(`compute_table`, `load_table`); then a target embedding becomes a relevance per channel (`text_direction`,
`relevance`) and an edit of the styles (`apply_relevance`), decoded by `generator.synthesis_from_styles`.
"""

from .boundary import relevance, text_direction
from .compute import compute_table, partial_path
from .edit import MAX_ALPHA, apply_relevance
from .files import load_table, save_table
from .fingerprint import generator_fingerprint
from .layout import ChannelLayout, table_layout
from .statistics import StyleStats, channel_statistics
from .styleclip import load_styleclip_table
from .table import METHODS, ChannelTable

__all__ = ["METHODS", "MAX_ALPHA", "ChannelLayout", "ChannelTable", "StyleStats", "apply_relevance",
           "channel_statistics", "compute_table", "generator_fingerprint", "load_styleclip_table", "load_table",
           "partial_path", "relevance", "save_table", "table_layout", "text_direction"]
