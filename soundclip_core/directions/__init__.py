"""Instant edits by StyleSpace global directions (StyleCLIP's recipe, for sound as for text).

Once per generator and CLIP space, a table says how each StyleSpace channel moves the CLIP image embedding
(`compute_table`, `cached_table`, `load_table`); then a target embedding becomes a `Direction` (per-channel
relevance: `table_direction`, or without a table `estimate_direction`) and an edit of the styles
(`apply_direction`: GetBoundary at beta, s + alpha r sigma), decoded by `decode_styles`.
"""

from .boundary import boundary, relevance, scores, text_direction
from .cache import TABLE_FOLDER, cache_entry, cached_table, default_table_folder, find_cached_table, table_file
from .compute import compute_table, partial_path
from .direction import DEFAULT_ALPHA, DEFAULT_BETA, Direction, apply_direction, table_direction
from .edit import MAX_ALPHA, AlphaClamped, apply_relevance, clamp_alpha
from .estimate import estimate_direction
from .files import load_table, save_table
from .fingerprint import generator_fingerprint
from .layout import ChannelLayout, table_layout
from .render import decode_styles, read_styles, save_styles
from .statistics import StyleStats, channel_statistics
from .styleclip import load_styleclip_table
from .table import METHODS, ChannelTable

__all__ = ["DEFAULT_ALPHA", "DEFAULT_BETA", "MAX_ALPHA", "METHODS", "TABLE_FOLDER", "AlphaClamped", "ChannelLayout",
           "ChannelTable", "Direction", "StyleStats", "apply_direction", "apply_relevance", "boundary", "cache_entry",
           "cached_table", "channel_statistics", "clamp_alpha", "compute_table", "decode_styles",
           "default_table_folder", "estimate_direction", "find_cached_table", "generator_fingerprint",
           "load_styleclip_table", "load_table", "partial_path", "read_styles", "relevance", "save_styles",
           "save_table", "scores", "table_direction", "table_file", "table_layout", "text_direction"]
