"""The one home for reading model files: container sniffing, the restricted unpickler, the
TorchScript archive reader, the checks every state dict passes (finite, shapes), and
`read_state_dict`, which every loader calls (no `torch.load` anywhere else)."""

from .formats import sniff
from .reader import load_storage_bytes, read_checkpoint, read_state_dict
from .safe_pickle import (
    BYTES_ALLOWED,
    CONTAINERS_ALLOWED,
    NUMPY_ALLOWED,
    UNPICKLING_ERRORS,
    RestrictedUnpickler,
    materialize,
    restricted_load,
)
from .torchscript_archive import is_torchscript_archive, read_torchscript_tensors
from .validate import check_finite, check_shapes, module_shapes, require_keys

__all__ = ["BYTES_ALLOWED", "CONTAINERS_ALLOWED", "NUMPY_ALLOWED", "UNPICKLING_ERRORS", "RestrictedUnpickler",
           "check_finite", "check_shapes", "is_torchscript_archive", "load_storage_bytes", "materialize",
           "module_shapes", "read_checkpoint", "read_state_dict", "read_torchscript_tensors", "require_keys",
           "restricted_load", "sniff"]
