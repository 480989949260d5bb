// Result files (DESIGN.md §7): JSON objects built in order, written atomically (temporary file, then
// rename), CSV logs appended a row at a time, Markdown tables.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "util/json.h"

namespace tg::runner {

// Configs and metrics are tg::Json values (util/json.h).
using Json = tg::Json;

// Writes `text` to `path` atomically (tg::AtomicFile: a temporary file renamed over `path`).
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);

// A Markdown table: header row, then rows of cells.
std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string csv_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string fixed(double v, int decimals);  // "12.34"; "nan" for NaN

}  // namespace tg::runner
