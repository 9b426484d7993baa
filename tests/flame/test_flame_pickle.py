"""The restricted unpickler: FLAME-style pickles load without chumpy; anything else is refused."""

import pickle

import numpy as np
import pytest
import torch

from reenact.errors import AssetError
from reenact.flame.model import load_flame_data
from reenact.flame.pickle_safe import load_npy_object, load_pickle


def test_chumpy_style_pickles_load_without_chumpy_and_match_the_plain_file(head_files):
    import sys

    assert "chumpy" not in sys.modules
    plain = load_flame_data(head_files["model"])
    for key in ("model_chumpy", "model_chumpy_protocol0"):
        dechumpied = load_flame_data(head_files[key])
        for field in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights", "faces", "parents"):
            np.testing.assert_array_equal(getattr(dechumpied, field), getattr(plain, field), err_msg=f"{key}.{field}")
    assert "chumpy" not in sys.modules
    raw = load_pickle(head_files["model_chumpy"])
    assert raw["shapedirs"].shape[-1] == 400 and raw["J_regressor"].format == "csc"


def test_os_system_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "generic_model.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(AssetError, match=r"os\.system"):
        load_pickle(evil)
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"),
                                         ("torch", "load"), ("posix", "system")])
def test_other_globals_are_refused(tmp_path, module, name):
    path = tmp_path / "bad.pkl"
    path.write_bytes(f"c{module}\n{name}\n(S'1'\ntR.".encode())
    with pytest.raises(AssetError, match="refusing"):
        load_pickle(path)


def test_torch_tensors_inside_an_npy_load_only_when_allowed(tmp_path):
    path = tmp_path / "emb.npy"
    np.save(path, np.array({"idx": torch.arange(6).reshape(2, 3), "a": np.ones(2)}, dtype=object), allow_pickle=True)
    data = load_npy_object(path, allow_torch=True)
    np.testing.assert_array_equal(data["idx"], np.arange(6).reshape(2, 3))
    with pytest.raises(AssetError, match="torch"):
        load_npy_object(path)


def test_unknown_chumpy_class_is_reported_not_guessed(tmp_path):
    path = tmp_path / "odd.pkl"
    # protocol 0: copy_reg._reconstructor(chumpy.ch.Weird, object, None) then a state dict
    path.write_bytes(b"ccopy_reg\n_reconstructor\n(cchumpy.ch\nWeird\nc__builtin__\nobject\nNtR(dS'q'\nI1\nsb.")
    with pytest.raises(AssetError, match="Weird"):
        load_pickle(path)


def test_truncated_or_missing_files_give_asset_errors(tmp_path, head_files):
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(head_files["model"].read_bytes()[:5000])
    with pytest.raises(AssetError, match="re-download"):
        load_flame_data(cut)
    with pytest.raises(AssetError, match="not found"):
        load_flame_data(tmp_path / "nope.pkl")


def test_a_dict_missing_flame_fields_is_rejected(tmp_path):
    path = tmp_path / "x.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"v_template": np.zeros((3, 3))}, fh, protocol=2)
    with pytest.raises(AssetError, match="lacks FLAME fields"):
        load_flame_data(path)
