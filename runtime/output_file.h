// Files gradqueue writes whole (checkpoints, exported models): written to a temporary file in the
// same folder, flushed to disk, then renamed over the target, so that a crash, a full disk or a
// signal never leaves a half-written file under the real name. Host only.
#pragma once

#include <filesystem>
#include <string_view>

namespace gq {

// Creates path's folder if needed. Throws gq::Error "cannot write <what> <path>: <OS error>" (the
// temporary file, path + tmp_suffix, is removed) when any step fails. Processes that may write
// the same path at once give each a suffix of its own.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           std::string_view what, std::string_view tmp_suffix = ".tmp");

}  // namespace gq
