// Reuters-21578 (Distribution 1.0, SGML) reader: ModApte split, single-label documents of the most
// frequent topics, bag-of-words features. The exact protocol is in docs/DATASETS.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.h"

namespace gq::data {

struct ReutersOptions {
  int top_topics = 10;  // classes: the most frequent topics among single-label ModApte train docs
  int vocab = 2000;     // features: the most frequent words by document frequency in those docs
};

// One <REUTERS> element.
struct ReutersDocument {
  int newid = 0;
  std::string lewissplit;           // TRAIN, TEST or NOT-USED
  std::string topics_attr;          // YES, NO or BYPASS
  std::vector<std::string> topics;  // the <D> entries of <TOPICS>
  std::string text;                 // TITLE + "\n" + BODY, entities decoded (see docs)
  std::int64_t offset = 0;          // byte offset of "<REUTERS" in its file
};

// Parses one reut2-NNN.sgm file (bytes read as Latin-1). `source` names it in messages. Throws
// DataError for an unterminated or nested <REUTERS>, a stray </REUTERS>, an unterminated <TOPICS>,
// <TEXT>, <TITLE> or <BODY>, a missing or invalid NEWID/LEWISSPLIT/TOPICS attribute, or a file
// with no documents.
std::vector<ReutersDocument> parse_reuters_sgml(std::span<const std::uint8_t> bytes,
                                                const std::filesystem::path& source,
                                                const std::string& member = {});

// Decodes the SGML entities of the collection: &lt; &gt; &amp; &quot; &apos; and &#N; (N < 256).
// Unknown entities are left as they are.
std::string decode_sgml_entities(std::string_view s);

// Tokens: maximal runs of ASCII letters, lowercased, at least 2 letters long. Everything else
// (digits, punctuation, control characters, Latin-1 bytes >= 0x80) separates tokens.
std::vector<std::string> tokenize_reuters(std::string_view text);

// Reuters-21578 from `path`: a directory holding reut2-000.sgm ... reut2-021.sgm, a directory
// holding reuters21578/ with them, a directory holding reuters21578.tar.xz (or .tar.gz), or such an
// archive itself (read in memory), in this order. Features: log(1 + tf) over the vocabulary, each
// row L2-normalised (rows of documents with no vocabulary word are all zero). feature_names holds
// the vocabulary.
Dataset load_reuters21578(const std::filesystem::path& path, Split split,
                          const ReutersOptions& options = {});
// Both splits from one read (they share the classes and the vocabulary).
TrainTest load_reuters21578_all(const std::filesystem::path& path,
                                const ReutersOptions& options = {});

}  // namespace gq::data
