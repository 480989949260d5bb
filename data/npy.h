// NumPy .npy files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// "\x93NUMPY", version major.minor, the header length (2 bytes little-endian in version 1, 4 in 2
// and 3), a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, then
// the raw C-order data. The -C corruption sets ship as .npy.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tensor/safetensors.h"  // ByteReader
#include "tensor/tensor.h"

namespace tg {

struct NpyHeader {
  int version = 1;          // the major version: 1, 2 or 3
  std::string descr;        // as in the file: "<f4", "|u1", ...
  DType dtype = DType::f32; // what the data loads as
  bool big_endian = false;  // descr '>': the reader swaps the bytes
  Shape shape;              // () for a scalar
  uint64_t data_offset = 0; // where the data starts in the file
};

// Reads and checks the header. descr: f4, f8, i4, i8, u1 and b1 (bool, loads as uint8), either byte
// order; fortran_order True is refused; the file must hold exactly the data the shape announces.
NpyHeader read_npy_header(const std::string& path);

// The whole array, on the CPU.
Tensor load_npy(const std::string& path);
// Rows [begin, end) of dim 0 only (reads just those bytes): one severity of a -C set, for example.
Tensor load_npy_rows(const std::string& path, int64_t begin, int64_t end);

// The same through a ByteReader (a file, or bytes in memory named `name` in errors): the path
// versions above call these, so the fuzzer (fuzz/) and the tests drive the same code.
NpyHeader read_npy_header(const ByteReader& in);
Tensor read_npy_rows(const ByteReader& in, const NpyHeader& h, int64_t begin, int64_t end);
Tensor parse_npy(std::span<const uint8_t> bytes, const std::string& name);

// Writes version 1.0, little-endian, C order, the header padded so that the data starts at a
// multiple of 64 bytes. Atomic (temporary file + rename). A GPU tensor is copied to the host.
void save_npy(const std::string& path, const Tensor& t);

}  // namespace tg
