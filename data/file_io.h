// Reading whole files for the dataset parsers, gzip or plain, with errors that name the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tg {

// The file's bytes; a gzip file (one starting with 1f 8b) is decompressed, others are returned as they are.
// Errors name the file: missing, unreadable, or a corrupt or truncated gzip stream.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Whether `bytes` start with the gzip magic 1f 8b.
bool is_gzip(std::span<const uint8_t> bytes);
// gzip data (one or more members, nothing after them) decompressed, as read_file_bytes does after
// reading; `name` stands for the file in errors, which give the compressed byte offset.
std::vector<uint8_t> gunzip(std::span<const uint8_t> bytes, const std::string& name);

// True when `path` names an existing regular file.
bool is_file(const std::string& path);

// The first of `candidates` that exists, or "" when none does.
std::string first_existing(const std::vector<std::string>& candidates);

}  // namespace tg
