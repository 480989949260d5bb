#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ (except the JPEG seeds): small valid files of each
format, in the shapes the real datasets and checkpoints have, so the fuzzer starts inside each parser.
Run from the repository root: python3 fuzz/make_seeds.py"""
import gzip, json, os, struct

def put(target, name, data):
    os.makedirs(f"fuzz/corpus/{target}", exist_ok=True)
    with open(f"fuzz/corpus/{target}/{name}", "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)

# ---- safetensors ----
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data

put("safetensors", "f32_i64_meta.safetensors", safetensors(
    [("conv1.weight", "F32", [2, 3], struct.pack("<6f", *range(6))),
     ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 7))], {"epoch": "3", "config": "{\"tau\": 50}"}))
put("safetensors", "f16_bf16_bool.safetensors", safetensors(
    [("a", "F16", [2], struct.pack("<2H", 0x3C00, 0x0001)), ("b", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0xFF80)),
     ("m", "BOOL", [3], b"\x01\x00\x01"), ("e", "U8", [0, 4], b"")]))
put("safetensors", "f64_i32_u8.safetensors", safetensors(
    [("x", "F64", [1], struct.pack("<d", -2.5)), ("y", "I32", [2, 1], struct.pack("<2i", -1, 5)),
     ("z", "U8", [2, 2, 1], b"\x00\x01\x02\xff")]))

# ---- JSON: a run's config.json and metrics.json, and the corners of RFC 8259 ----
put("json", "config.json", json.dumps({"dataset": "fashion-mnist", "model": "resnet20", "tau": 50.0, "epochs": 2,
                                      "seed": 0, "lr": 0.1, "schedule": [30, 60], "adversarial": None}, indent=2))
put("json", "metrics.json", json.dumps({"status": "finished", "clean_accuracy": 0.9123, "loss": 1e-7,
                                       "per_epoch": [{"epoch": 1, "acc": 0.5}], "diverged": False}))
put("json", "escapes.json", '["\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/", -0.0, 1E+400, 12345678901234567890, true, {}, []]')
put("json", "nested.json", '{"a":{"b":{"c":[[[[{"d":null}]]]]}}}')

# ---- .npy: versions 1-3, every dtype, both byte orders, scalar and empty shapes ----
def npy(descr, shape, raw, version=1, fortran=False):
    shape_s = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_s)
    pre = 10 if version == 1 else 12
    d += " " * (-(pre + len(d) + 1) % 64) + "\n"
    n = struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes([version, 0]) + n + d.encode() + raw

put("npy", "f4_2x3.npy", npy("<f4", [2, 3], struct.pack("<6f", *range(6))))
put("npy", "i8_v2.npy", npy("<i8", [3], struct.pack("<3q", 4, -5, 6), version=2))
put("npy", "be_i4_v3.npy", npy(">i4", [2, 2], struct.pack(">4i", 258, -2, 0, 1), version=3))
put("npy", "b1.npy", npy("|b1", [2], b"\x01\x00"))
put("npy", "scalar_f8.npy", npy("<f8", [], struct.pack("<d", 1e-300)))
put("npy", "empty_u1.npy", npy("|u1", [0, 3], b""))
put("npy", "u1_nhwc.npy", npy("|u1", [5, 2, 2, 3], bytes(range(60))))

# ---- IDX (MNIST, Fashion-MNIST), raw and gzipped ----
images = struct.pack(">IIII", 0x803, 3, 2, 2) + bytes(range(12))
labels = struct.pack(">II", 0x801, 3) + bytes([9, 0, 4])
put("idx", "images-idx3-ubyte", images)
put("idx", "labels-idx1-ubyte", labels)
put("idx", "images-idx3-ubyte.gz", gzip.compress(images, mtime=0))
put("idx", "labels-idx1-ubyte.gz", gzip.compress(labels, mtime=0))

# ---- CIFAR binary batches: 3073-byte CIFAR-10 records, 3074-byte CIFAR-100 ones ----
pixels = bytes((i * 7) % 256 for i in range(3072))
put("cifar", "cifar10_2_records.bin", bytes([3]) + pixels + bytes([9]) + pixels)
put("cifar", "cifar100_2_records.bin", bytes([1, 42]) + pixels + bytes([19, 99]) + pixels)

# ---- Tiny-ImageNet: wnids.txt, NUL, val_annotations.txt ----
put("tiny_imagenet", "wnids_val.txt", "n01443537\nn01629819\nn01641577\n\0"
    "val_0.JPEG\tn01443537\t0\t10\t62\t63\nval_1.JPEG\tn01641577\t5\t5\t40\t60\r\n\nval_2.JPEG\tn01629819\t1\t2\t3\t4\n")
put("tiny_imagenet", "wnids_only.txt", "n02124075 \r\nn04067472\n\n")

# ---- -C sets: severity byte, images.npy length (u32 LE), images.npy (uint8 (5 N, H, W, C)), labels.npy ----
def corrupted(severity, images, labels):
    return bytes([severity - 1]) + struct.pack("<I", len(images)) + images + labels

put("corrupted", "rgb_u1_labels.bin", corrupted(2, npy("|u1", [5, 2, 2, 3], bytes(range(60))), npy("|u1", [5], bytes([0, 1, 2, 3, 9]))))
put("corrupted", "gray_i8_labels.bin", corrupted(5, npy("|u1", [10, 3, 3, 1], bytes(range(90))),
                                                 npy("<i8", [10], struct.pack("<10q", *range(10)))))
