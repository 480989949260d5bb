// The safetensors format (https://github.com/huggingface/safetensors): checkpoints that PyTorch,
// timm and taugrad read alike. A file is
//   8 bytes       N, the header length, unsigned little-endian
//   N bytes       a JSON object: {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
//                 ..., "__metadata__": {"<key>": "<value>"}} (metadata optional, string values only),
//                 padded with spaces
//   the rest      the tensors' raw little-endian bytes; [b, e) is relative to the end of the header.
// The reader is strict: it checks the header JSON, every dtype and shape against its byte range,
// and that the ranges tile the data region with no gap or overlap; errors name the file and the
// byte offset. Writes are atomic (a temporary file renamed over the target).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tensor/state_dict.h"
#include "tensor/tensor.h"

namespace tg {

struct SafetensorsFile {
  StateDict tensors;                          // in file order (by data offset)
  std::vector<std::string> file_dtypes;          // each tensor's dtype as the file names it ("F16")
  std::map<std::string, std::string> metadata;   // "__metadata__", empty when absent
  std::string path;

  bool contains(const std::string& name) const;
  // The tensor called `name`; throws naming the file when there is none.
  const Tensor& at(const std::string& name) const;
};

// Writes `tensors` in the given order (GPU tensors are copied to the host). Names must be unique
// and non-empty and may not be "__metadata__". Dtypes: F32, F64, I32, I64, U8.
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor onto the CPU. File dtypes F32, F64, I32, I64 and U8 load as themselves; BOOL
// loads as uint8; F16 and BF16 (timm checkpoints) are converted to float32. A bfloat16 tensor is
// written as BF16 (so it reads back as float32, exactly: models keep float32 weights).
SafetensorsFile load_safetensors(const std::string& path);
// The same from a file's bytes in memory (`name` stands for the path in errors); load_safetensors
// reads through this parser, so the fuzzer (fuzz/) and the tests drive the same checks.
SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& name);

// A file's bytes, read at offsets: from disk (only the bytes asked for) or from a buffer in memory.
// The file parsers (safetensors, .npy) read through it, so a path and a buffer take the same code.
class ByteReader {
 public:
  // Errors name the file and what it should be ("safetensors file", ".npy file").
  static ByteReader open(const std::string& path, const std::string& what);
  // `bytes` must outlive the reader.
  static ByteReader memory(std::span<const uint8_t> bytes, std::string name);

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  // Copies bytes [offset, offset + n) into dst. Callers check the range against size() first (and
  // name the offset in their error); a range past the end is an error naming the file.
  void read(uint64_t offset, void* dst, size_t n) const;

 private:
  std::string name_;
  uint64_t size_ = 0;
  std::shared_ptr<std::FILE> file_;  // or
  const uint8_t* data_ = nullptr;
};

// Writes a file atomically: bytes go to a temporary file next to `path`, and commit() flushes,
// fsyncs and renames it over `path`. Destroyed uncommitted, it removes the temporary file, so a
// crash or an error never leaves a half-written `path`. (Used by every writer of results.)
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit();

 private:
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
};

}  // namespace tg
