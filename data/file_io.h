// Reading whole files for the dataset parsers, gzip or plain, with errors that name the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tg {

// The file's bytes; a gzip file is decompressed (zlib passes plain files through unchanged).
// Errors name the file: missing, unreadable, or a corrupt or truncated gzip stream.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// True when `path` names an existing regular file.
bool is_file(const std::string& path);

// The first of `candidates` that exists, or "" when none does.
std::string first_existing(const std::vector<std::string>& candidates);

}  // namespace tg
