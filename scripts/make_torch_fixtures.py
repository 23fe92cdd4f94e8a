#!/usr/bin/env python3
"""Writes small checkpoints in both torch.save formats, without torch, for the loader tests.

Outputs (builder/tests/fixtures/):
  state_zip.pth     torch >= 1.6 zip format (archive/data.pkl + archive/data/<key>)
  state_legacy.pth  legacy format (magic, protocol, sys info, pickle, keys, raw storages)
  state.json        the same tensors as nested lists (the expected values)

The pickles reference torch._utils._rebuild_tensor_v2 and torch.FloatStorage exactly as
torch.save writes them; stand-in modules make Python's pickler emit those names. The state
dict includes a transposed (non-contiguous) view and two tensors sharing one storage, the
cases a real checkpoint can contain.
"""
import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


def _rebuild_tensor_v2(*args):  # never called: only pickled by reference
    raise NotImplementedError


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class FloatStorage:
    pass


class LongStorage:
    pass


for cls in (FloatStorage, LongStorage):
    cls.__module__ = "torch"
    setattr(torch, cls.__name__, cls)


class Storage:
    def __init__(self, key, cls, values, fmt):
        self.key, self.cls, self.values, self.fmt = key, cls, values, fmt

    def raw(self):
        return struct.pack("<%d%s" % (len(self.values), self.fmt), *self.values)


class TensorRef:
    """A view into a storage: offset, size, stride (in elements)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (
            _rebuild_tensor_v2,
            (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
             collections.OrderedDict()),
        )

    def to_list(self):
        """Elements in row-major order."""
        def rec(dim, base):
            if dim == len(self.size):
                return [self.storage.values[base]]
            return [x for i in range(self.size[dim]) for x in rec(dim + 1, base + i * self.stride[dim])]
        return rec(0, self.offset)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.cls, obj.key, "cpu", len(obj.values))
        return None


def state_dict():
    a = Storage("0", FloatStorage, [0.5 * i - 3.0 for i in range(24)], "f")
    b = Storage("1", FloatStorage, [1.0 + 0.25 * i for i in range(6)], "f")
    n = Storage("2", LongStorage, [7], "q")
    sd = collections.OrderedDict()
    sd["conv.weight"] = TensorRef(a, 0, [2, 3, 2, 2], [12, 4, 2, 1])
    # Transposed view of storage b (strides [1, 3]): non-contiguous.
    sd["fc.weight"] = TensorRef(b, 0, [3, 2], [1, 3])
    # Shares storage a with conv.weight, starting at element 20.
    sd["conv.bias"] = TensorRef(a, 20, [2], [1])
    sd["bn.num_batches_tracked"] = TensorRef(n, 0, [], [])
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return sd, [a, b, n]


def dump_pickle(obj):
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def main():
    out = Path(__file__).resolve().parent.parent / "builder" / "tests" / "fixtures"
    out.mkdir(parents=True, exist_ok=True)
    sd, storages = state_dict()

    with zipfile.ZipFile(out / "state_zip.pth", "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", dump_pickle(sd))
        z.writestr("archive/byteorder", "little")
        for s in storages:
            z.writestr("archive/data/" + s.key, s.raw())
        z.writestr("archive/version", "3\n")

    with open(out / "state_legacy.pth", "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        f.write(dump_pickle(sd))
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", len(s.values)))
            f.write(s.raw())

    expected = {k: {"shape": v.size, "values": v.to_list()} for k, v in sd.items()}
    (out / "state.json").write_text(json.dumps(expected) + "\n")
    print("wrote", ", ".join(p.name for p in sorted(out.glob("state*"))))


if __name__ == "__main__":
    main()
