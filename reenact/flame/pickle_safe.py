"""Read FLAME-family pickles without chumpy and without running code from the file.

FLAME 2020's `generic_model.pkl` is a Python-2 pickle in which some arrays are chumpy objects and
the joint regressor is a SciPy sparse matrix saved under a module path SciPy has since renamed.
DECA's `landmark_embedding.npy` pickles torch tensors inside a NumPy object array. A plain
`pickle.load` needs chumpy (broken on NumPy >= 1.24) and would execute any callable the file
names. `RestrictedUnpickler` instead resolves only an allow-list of globals: chumpy and sparse
classes become inert stubs that `resolve_stubs` turns into arrays afterwards; everything else
(os.system, eval, ...) is refused with an AssetError.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AssetError


class ChumpyStub:
    """Stands in for any chumpy class; keeps the pickled state for `resolve_stubs`."""

    chumpy_name = "Ch"

    def __new__(cls, *args: Any, **kwargs: Any) -> "ChumpyStub":
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.state = state


class SparseStub:
    """Stands in for a SciPy sparse matrix under any module path, old or new."""

    sparse_format = "csc"

    def __new__(cls, *args: Any, **kwargs: Any) -> "SparseStub":
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.state = state


_stub_classes: dict[tuple[type, str], type] = {}


def _stub(base: type, attr: str, name: str) -> type:
    key = (base, name)
    if key not in _stub_classes:
        _stub_classes[key] = type(f"{base.__name__}_{name}", (base,), {attr: name})
    return _stub_classes[key]


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """copy_reg._reconstructor, limited to the plain-object case Python-2 pickles use."""
    if base is not object:
        raise AssetError(f"refusing to rebuild {cls.__name__} from base {base.__name__}: not a FLAME-style pickle")
    return object.__new__(cls)


def _storage_from_bytes(data: bytes) -> Any:
    import torch

    # torch's own _load_from_bytes uses weights_only=False; a storage needs nothing beyond this.
    return torch.load(io.BytesIO(data), weights_only=True)


def _tensor_to_array(storage: Any, offset: int, size: Any, stride: Any, *rest: Any) -> np.ndarray:
    from torch._utils import _rebuild_tensor

    return _rebuild_tensor(storage, offset, tuple(size), tuple(stride)).detach().cpu().clone().numpy()


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
# NumPy 2 renamed numpy.core to numpy._core (the old name still works but warns).
_NUMPY_CORE_NOW = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that knows the handful of globals FLAME, DECA and RingNet files use."""

    def __init__(self, file: Any, source: str, allow_torch: bool = False) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source
        self.allow_torch = allow_torch

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _stub(ChumpyStub, "chumpy_name", name)
        if module.startswith("scipy.sparse") and name.endswith(("_matrix", "_array")):
            fmt = name.split("_")[0]
            if fmt in ("csc", "csr", "coo"):
                return _stub(SparseStub, "sparse_format", fmt)
        if module in _NUMPY_CORE and name in ("_reconstruct", "scalar", "_frombuffer"):
            return getattr(importlib.import_module(f"{_NUMPY_CORE_NOW}.{module.rsplit('.', 1)[1]}"), name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module.startswith(("numpy.dtypes", "numpy._core.dtypes")) and name.endswith("DType"):
            return getattr(np.dtypes, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _reconstructor
        if module in ("__builtin__", "builtins") and name in ("object", "set", "frozenset", "slice", "complex"):
            return getattr(__import__("builtins"), name)
        if module == "_codecs" and name == "encode":
            import codecs

            return codecs.encode
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if self.allow_torch:
            if module == "torch._utils" and name == "_rebuild_tensor_v2":
                return _tensor_to_array
            if module == "torch.storage" and name == "_load_from_bytes":
                return _storage_from_bytes
        raise AssetError(f"refusing {self.source}: it asks to run {module}.{name}, which a FLAME/DECA file never "
                         "contains (it may be malicious); re-download it from its official source")


def resolve_stubs(obj: Any, where: str = "") -> Any:
    """Replace chumpy and sparse stubs (recursively) by NumPy arrays / SciPy sparse matrices."""
    if isinstance(obj, ChumpyStub):
        state = obj.state if isinstance(getattr(obj, "state", None), dict) else {}
        if "x" in state:
            return np.asarray(resolve_stubs(state["x"], where))
        if "a" in state and "idxs" in state:  # chumpy Select: a flattened view of another array
            values = np.asarray(resolve_stubs(state["a"], where)).ravel()[np.asarray(state["idxs"]).ravel()]
            shape = state.get("preferred_shape")
            return values.reshape(shape) if shape is not None else values
        raise AssetError(f"cannot turn chumpy object {obj.chumpy_name} at {where or 'top level'} into an array "
                         f"(state keys {sorted(state)}); this file is not in a FLAME layout reenact knows")
    if isinstance(obj, SparseStub):
        import scipy.sparse as sp

        s = obj.state if isinstance(getattr(obj, "state", None), dict) else {}
        shape = tuple(int(v) for v in s.get("_shape", s.get("shape", ())))
        try:
            if obj.sparse_format == "coo":
                return sp.coo_matrix((s["data"], (s["row"], s["col"])), shape=shape).tocsc()
            cls = sp.csc_matrix if obj.sparse_format == "csc" else sp.csr_matrix
            return cls((s["data"], s["indices"], s["indptr"]), shape=shape)
        except (KeyError, ValueError) as exc:
            raise AssetError(f"sparse matrix at {where or 'top level'} is malformed ({exc})") from None
    if isinstance(obj, dict):
        return {k: resolve_stubs(v, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(resolve_stubs(v, f"{where}[{i}]") for i, v in enumerate(obj))
    return obj


def load_pickle(path: str | Path, allow_torch: bool = False) -> Any:
    """Load a FLAME-style pickle safely, chumpy stubs resolved into arrays."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = RestrictedUnpickler(fh, str(path), allow_torch=allow_torch).load()
    except AssetError:
        raise
    except OSError as exc:
        raise AssetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # truncated or corrupt pickles raise a zoo of types
        raise AssetError(f"{path} is not a readable pickle ({type(exc).__name__}: {exc}); re-download it") from None
    return resolve_stubs(data)


def load_npy_object(path: str | Path, allow_torch: bool = False) -> Any:
    """Load a .npy file that may hold a pickled object (e.g. DECA's landmark_embedding.npy) safely."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            _, _, dtype = read_header(fh)
            if not dtype.hasobject:
                return np.load(path, allow_pickle=False)
            array = RestrictedUnpickler(fh, str(path), allow_torch=allow_torch).load()
    except AssetError:
        raise
    except OSError as exc:
        raise AssetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:
        raise AssetError(f"{path} is not a readable .npy file ({type(exc).__name__}: {exc}); re-download it") from None
    array = resolve_stubs(array)
    if isinstance(array, np.ndarray) and array.dtype == object and array.shape == ():
        return array.item()
    return array
