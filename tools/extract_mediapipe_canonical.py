"""Extract MediaPipe's canonical face model from a Face Landmarker bundle into reenact/assets/.

The Face Landmarker `.task` file (Apache-2.0, Google) is a zip that holds
`geometry_pipeline_metadata_landmarks.binarypb`: a protobuf with the canonical face mesh
(468 vertices, xyz in centimetres plus uv, and its triangle list) and the per-landmark weights
MediaPipe uses for its Procrustes pose fit. This tool decodes that message (no protobuf package
needed: it is a handful of fields) and writes `reenact/assets/mediapipe_canonical_face.npz`,
which the mesh tracker reads. Run it again only if the bundled model changes:

    python tools/extract_mediapipe_canonical.py path/to/face_landmarker.task
"""

from __future__ import annotations

import argparse
import struct
import zipfile
from pathlib import Path

import numpy as np

METADATA_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"
OUT = Path(__file__).resolve().parents[1] / "reenact" / "assets" / "mediapipe_canonical_face.npz"


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf: bytes):
    """Yield (field number, wire type, raw value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _packed_or_single(wire: int, value, kind: str) -> list:
    if wire == 2:  # packed repeated field
        if kind == "float":
            return list(struct.unpack(f"<{len(value) // 4}f", value))
        out, i = [], 0
        while i < len(value):
            v, i = _varint(value, i)
            out.append(v)
        return out
    return [struct.unpack("<f", value)[0]] if kind == "float" else [value]


def decode(metadata: bytes) -> dict[str, np.ndarray]:
    vertex_buffer: list[float] = []
    index_buffer: list[int] = []
    basis_ids: list[int] = []
    basis_weights: list[float] = []
    for number, wire, value in _fields(metadata):
        if number == 1:  # canonical_mesh: Mesh3d
            for n2, w2, v2 in _fields(value):
                if n2 == 3:
                    vertex_buffer += _packed_or_single(w2, v2, "float")
                elif n2 == 4:
                    index_buffer += _packed_or_single(w2, v2, "int")
        elif number == 2:  # procrustes_landmark_basis: WeightedLandmarkRef
            landmark_id, weight = 0, 0.0
            for n2, w2, v2 in _fields(value):
                if n2 == 1:
                    landmark_id = v2
                elif n2 == 2:
                    weight = struct.unpack("<f", v2)[0]
            basis_ids.append(landmark_id)
            basis_weights.append(weight)
    vertices = np.asarray(vertex_buffer, np.float32).reshape(-1, 5)  # VERTEX_PT: x y z u v
    weights = np.zeros(len(vertices), np.float32)
    weights[np.asarray(basis_ids, np.int64)] = basis_weights
    return {
        "vertices": vertices[:, :3],
        "uv": vertices[:, 3:],
        "triangles": np.asarray(index_buffer, np.int32).reshape(-1, 3),
        "procrustes_weights": weights,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", type=Path, help="face_landmarker.task (MediaPipe Face Landmarker bundle)")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args()
    with zipfile.ZipFile(args.task) as bundle:
        data = decode(bundle.read(METADATA_MEMBER))
    if data["vertices"].shape != (468, 3):
        raise SystemExit(f"unexpected canonical mesh size {data['vertices'].shape}")
    np.savez_compressed(args.output, **data,
                        licence=np.asarray("Apache-2.0; MediaPipe canonical face model (Google LLC)"))
    print(f"wrote {args.output}: {len(data['vertices'])} vertices, {len(data['triangles'])} triangles, "
          f"{int((data['procrustes_weights'] > 0).sum())} weighted landmarks")


if __name__ == "__main__":
    main()
