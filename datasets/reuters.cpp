#include "datasets/reuters.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "datasets/io.h"

namespace gq::data {
namespace {

constexpr std::string_view kHint =
    "Restore reuters21578/reuters21578.tar.xz under the data root (docs/DATASETS.md) or "
    "re-download Reuters-21578 Distribution 1.0 (https://kdd.ics.uci.edu/databases/reuters21578/).";
constexpr int kFiles = 22;
// The largest .sgm file read (the real ones are 1.3 MB or less), checked before reading it.
constexpr std::uint64_t kMaxSgmBytes = std::uint64_t(64) << 20;
constexpr auto npos = std::string_view::npos;

std::string sgm_name(int i) {
  return fmt::format("reut2-{:03d}.sgm", i);
}

// Index 0..21 of a reut2-NNN.sgm base name, or -1.
int sgm_index(std::string_view base) {
  if (base.size() != 13 || base.substr(0, 6) != "reut2-" || base.substr(9) != ".sgm") return -1;
  int v = 0;
  for (char c : base.substr(6, 3)) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v < kFiles ? v : -1;
}

// Position of a start tag "<NAME" followed by a blank or '>', at or after `from`.
std::size_t find_start_tag(std::string_view s, std::string_view open, std::size_t from) {
  while (true) {
    const std::size_t p = s.find(open, from);
    if (p == npos || p + open.size() >= s.size()) return npos;
    const char c = s[p + open.size()];
    if (c == '>' || c == ' ' || c == '\t' || c == '\n' || c == '\r') return p;
    from = p + 1;
  }
}

struct Element {
  std::size_t begin = 0;        // offset of '<' of the start tag
  std::size_t inner_begin = 0;  // after the start tag
  std::size_t inner_end = 0;    // offset of the end tag
};

// Finds <NAME ...>...</NAME> within s[from, to). Absent: nullopt. Opened but not closed before
// `to`: DataError.
std::optional<Element> find_element(std::string_view whole, std::size_t from, std::size_t to,
                                    std::string_view name, const io::Origin& origin) {
  // Search s[from, to) only: searching to the end of the file for every document would make a
  // file of many small documents quadratic.
  const std::string_view s = whole.substr(0, to);
  const std::string open = "<" + std::string(name);
  const std::size_t p = find_start_tag(s, open, from);
  if (p == npos || p >= to) return std::nullopt;
  const std::size_t gt = s.find('>', p);
  if (gt == npos || gt >= to) {
    io::fail(origin, static_cast<std::int64_t>(p), fmt::format("unterminated {} start tag", open),
             "'>' closing the tag", "none before the end of the document");
  }
  const std::string close = "</" + std::string(name) + ">";
  const std::size_t e = s.find(close, gt + 1);
  if (e == npos || e + close.size() > to) {
    io::fail(
        origin, static_cast<std::int64_t>(p), fmt::format("unterminated <{}> element", name),
        fmt::format("{} before the end of the enclosing document at byte offset {}", close, to),
        "none");
  }
  return Element{p, gt + 1, e};
}

std::optional<std::string> attribute(std::string_view tag, std::string_view name) {
  const std::string key = " " + std::string(name) + "=\"";
  const std::size_t p = tag.find(key);
  if (p == npos) return std::nullopt;
  const std::size_t b = p + key.size();
  const std::size_t e = tag.find('"', b);
  if (e == npos) return std::nullopt;
  return std::string(tag.substr(b, e - b));
}

std::string strip_tags(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_tag = false;
  for (char c : s) {
    if (c == '<') {
      in_tag = true;
      out += ' ';
    } else if (c == '>' && in_tag) {
      in_tag = false;
    } else if (!in_tag) {
      out += c;
    }
  }
  return out;
}

std::vector<ReutersDocument> parse_impl(std::string_view s, const io::Origin& origin) {
  std::vector<ReutersDocument> docs;
  constexpr std::string_view kOpen = "<REUTERS", kClose = "</REUTERS>";
  std::size_t pos = 0;
  while (true) {
    const std::size_t start = find_start_tag(s, kOpen, pos);
    const std::size_t limit = start == npos ? s.size() : start;
    const std::size_t stray = s.find(kClose, pos);
    if (stray != npos && stray < limit) {
      io::fail(origin, static_cast<std::int64_t>(stray), "</REUTERS> without a matching <REUTERS>",
               "a <REUTERS ...> start tag before it",
               docs.empty() ? std::string("none in the file")
                            : fmt::format("the previous document (NEWID {}) already closed",
                                          docs.back().newid));
    }
    if (start == npos) break;
    const std::size_t gt = s.find('>', start);
    if (gt == npos) {
      io::fail(origin, static_cast<std::int64_t>(start), "unterminated <REUTERS start tag",
               "'>' closing the tag", "end of file");
    }
    const std::string_view tag = s.substr(start, gt + 1 - start);
    ReutersDocument d;
    d.offset = static_cast<std::int64_t>(start);
    const auto newid = attribute(tag, "NEWID");
    const std::size_t end = s.find(kClose, gt);
    const std::size_t next = find_start_tag(s, kOpen, gt);
    if (end == npos || (next != npos && next < end)) {
      io::fail(origin, static_cast<std::int64_t>(start),
               fmt::format("unterminated <REUTERS> element (NEWID {})", newid.value_or("?")),
               "</REUTERS> closing it",
               next != npos && (end == npos || next < end)
                   ? fmt::format("the next <REUTERS> at byte offset {} first", next)
                   : fmt::format("end of file at byte offset {}", s.size()));
    }
    if (!newid || newid->empty() ||
        !std::all_of(newid->begin(), newid->end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        newid->size() > 9 || std::stoi(*newid) == 0) {
      io::fail(origin, static_cast<std::int64_t>(start), "missing or invalid NEWID attribute",
               "NEWID=\"<positive integer>\"", newid ? "NEWID=\"" + *newid + "\"" : "none");
    }
    d.newid = std::stoi(*newid);
    const auto split = attribute(tag, "LEWISSPLIT");
    if (!split || (*split != "TRAIN" && *split != "TEST" && *split != "NOT-USED")) {
      io::fail(origin, static_cast<std::int64_t>(start),
               fmt::format("missing or invalid LEWISSPLIT attribute (NEWID {})", d.newid),
               "LEWISSPLIT=\"TRAIN\", \"TEST\" or \"NOT-USED\"",
               split ? "LEWISSPLIT=\"" + *split + "\"" : "none");
    }
    d.lewissplit = *split;
    const auto topics_attr = attribute(tag, "TOPICS");
    if (!topics_attr ||
        (*topics_attr != "YES" && *topics_attr != "NO" && *topics_attr != "BYPASS")) {
      io::fail(origin, static_cast<std::int64_t>(start),
               fmt::format("missing or invalid TOPICS attribute (NEWID {})", d.newid),
               "TOPICS=\"YES\", \"NO\" or \"BYPASS\"",
               topics_attr ? "TOPICS=\"" + *topics_attr + "\"" : "none");
    }
    d.topics_attr = *topics_attr;

    if (auto t = find_element(s, gt + 1, end, "TOPICS", origin)) {
      std::size_t p = t->inner_begin;
      while (auto dl = find_element(s, p, t->inner_end, "D", origin)) {
        d.topics.emplace_back(s.substr(dl->inner_begin, dl->inner_end - dl->inner_begin));
        p = dl->inner_end + 4;
      }
    }
    if (auto text = find_element(s, gt + 1, end, "TEXT", origin)) {
      const auto title = find_element(s, text->inner_begin, text->inner_end, "TITLE", origin);
      const auto body = find_element(s, text->inner_begin, text->inner_end, "BODY", origin);
      std::string raw;
      if (title || body) {
        if (title) raw.append(s.substr(title->inner_begin, title->inner_end - title->inner_begin));
        raw += '\n';
        if (body) raw.append(s.substr(body->inner_begin, body->inner_end - body->inner_begin));
      } else {  // TYPE="UNPROC": unstructured text
        raw = strip_tags(s.substr(text->inner_begin, text->inner_end - text->inner_begin));
      }
      d.text = decode_sgml_entities(raw);
    }
    docs.push_back(std::move(d));
    pos = end + kClose.size();
  }
  if (docs.empty()) {
    io::fail(origin, 0, "no documents", "<REUTERS ...> elements",
             fmt::format("none in {} bytes", s.size()));
  }
  return docs;
}

struct Loaded {
  std::vector<ReutersDocument> docs;  // all documents, file order
};

Loaded read_all(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) io::fail_missing("Reuters-21578 data", {path}, kHint);
  std::array<std::vector<ReutersDocument>, kFiles> per_file;
  std::array<bool, kFiles> found{};
  std::array<io::Origin, kFiles> origins;

  auto from_archive = [&](const std::filesystem::path& file) {
    io::ArchiveReader reader(file, std::string(kHint));
    io::ArchiveReader::Entry e;
    int remaining = kFiles;
    while (remaining > 0 && reader.next(e)) {
      const int i = sgm_index(e.base);
      if (!e.regular || i < 0 || found[std::size_t(i)]) continue;
      const auto bytes = reader.read(kMaxSgmBytes);
      origins[std::size_t(i)] = reader.origin_of(e.path);
      per_file[std::size_t(i)] =
          parse_impl(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                     origins[std::size_t(i)]);
      found[std::size_t(i)] = true;
      --remaining;
    }
    if (remaining > 0) {
      std::vector<std::string> missing;
      for (int i = 0; i < kFiles; ++i) {
        if (!found[std::size_t(i)]) missing.push_back(sgm_name(i));
      }
      io::fail(
          io::Origin{file, {}, false, std::string(kHint)}, -1,
          reader.seen().empty() ? "empty archive" : "missing Reuters-21578 member(s)",
          "members reut2-000.sgm ... reut2-021.sgm (in any folder)",
          fmt::format("{} members, without {}{}", reader.seen().size(), fmt::join(missing, ", "),
                      reader.not_regular_among(missing)));
    }
  };
  auto from_dir = [&](const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> missing;
    for (int i = 0; i < kFiles; ++i) {
      // exists, not is_regular_file: a FIFO or directory in its place gets read_file's message.
      if (!std::filesystem::exists(dir / sgm_name(i), ec)) missing.push_back(dir / sgm_name(i));
    }
    if (!missing.empty()) {
      io::fail_missing(fmt::format("Reuters-21578 file(s) in {}", dir.string()), missing, kHint);
    }
    for (int i = 0; i < kFiles; ++i) {
      const auto file = dir / sgm_name(i);
      const auto bytes = io::read_file(file, kHint, kMaxSgmBytes, "a Reuters-21578 SGML file");
      origins[std::size_t(i)] = io::Origin{file, {}, false, std::string(kHint)};
      per_file[std::size_t(i)] =
          parse_impl(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                     origins[std::size_t(i)]);
    }
  };

  if (std::filesystem::is_regular_file(path, ec)) {
    if (!io::is_tar_name(path)) {
      io::fail(io::Origin{path, {}, false, std::string(kHint)}, -1, "not a Reuters-21578 archive",
               "a directory or a .tar.xz/.tar.gz/.tar archive", "another kind of file");
    }
    from_archive(path);
  } else if (!std::filesystem::is_directory(path, ec)) {
    from_archive(path);  // neither a file nor a folder: the archive reader says what it is
  } else if (std::filesystem::exists(path / sgm_name(0), ec)) {
    from_dir(path);
  } else if (std::filesystem::exists(path / "reuters21578" / sgm_name(0), ec)) {
    from_dir(path / "reuters21578");
  } else if (std::filesystem::is_regular_file(path / "reuters21578.tar.xz", ec)) {
    from_archive(path / "reuters21578.tar.xz");
  } else if (std::filesystem::is_regular_file(path / "reuters21578.tar.gz", ec)) {
    from_archive(path / "reuters21578.tar.gz");
  } else {
    io::fail_missing(fmt::format("Reuters-21578 data in directory {}", path.string()),
                     {path / sgm_name(0), path / "reuters21578" / sgm_name(0),
                      path / "reuters21578.tar.xz", path / "reuters21578.tar.gz"},
                     kHint);
  }
  Loaded out;
  std::unordered_map<int, int> first_file;
  for (int i = 0; i < kFiles; ++i) {
    for (auto& d : per_file[std::size_t(i)]) {
      auto [it, fresh] = first_file.emplace(d.newid, i);
      if (!fresh) {
        io::fail(origins[std::size_t(i)], d.offset, fmt::format("duplicate NEWID {}", d.newid),
                 "unique NEWIDs",
                 fmt::format("NEWID {} also in {}", d.newid, sgm_name(it->second)));
      }
      out.docs.push_back(std::move(d));
    }
  }
  return out;
}

TrainTest build(const std::filesystem::path& path, const ReutersOptions& opt) {
  GQ_CHECK(opt.top_topics >= 1, "ReutersOptions::top_topics must be >= 1, got {}", opt.top_topics);
  GQ_CHECK(opt.vocab >= 1, "ReutersOptions::vocab must be >= 1, got {}", opt.vocab);
  Loaded all = read_all(path);

  // ModApte single-label documents.
  auto modapte = [](const ReutersDocument& d, std::string_view split) {
    return d.topics_attr == "YES" && d.lewissplit == split && d.topics.size() == 1;
  };
  std::map<std::string, int> topic_count;
  for (const auto& d : all.docs) {
    if (modapte(d, "TRAIN")) ++topic_count[d.topics[0]];
  }
  std::vector<std::pair<std::string, int>> topics(topic_count.begin(), topic_count.end());
  std::stable_sort(topics.begin(), topics.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (static_cast<int>(topics.size()) < opt.top_topics) {
    throw DataError(fmt::format("{}: top_topics={} but the ModApte train split has only {} topics "
                                "with single-label documents; ask for fewer topics",
                                path.string(), opt.top_topics, topics.size()),
                    path.string());
  }
  topics.resize(static_cast<std::size_t>(opt.top_topics));
  std::unordered_map<std::string, int> topic_index;
  for (std::size_t i = 0; i < topics.size(); ++i) topic_index[topics[i].first] = int(i);

  struct Doc {
    int label;
    std::vector<std::string> tokens;
  };
  std::vector<Doc> train_docs, test_docs;
  for (const auto& d : all.docs) {
    const bool train = modapte(d, "TRAIN"), test = modapte(d, "TEST");
    if (!train && !test) continue;
    auto it = topic_index.find(d.topics[0]);
    if (it == topic_index.end()) continue;
    (train ? train_docs : test_docs).push_back(Doc{it->second, tokenize_reuters(d.text)});
  }

  // Vocabulary: document frequency over the kept train documents; ties alphabetical.
  std::unordered_map<std::string, int> df;
  for (const auto& doc : train_docs) {
    std::unordered_set<std::string_view> unique(doc.tokens.begin(), doc.tokens.end());
    for (auto t : unique) ++df[std::string(t)];
  }
  std::vector<std::pair<std::string, int>> words(df.begin(), df.end());
  std::sort(words.begin(), words.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (words.size() > static_cast<std::size_t>(opt.vocab)) words.resize(std::size_t(opt.vocab));
  std::unordered_map<std::string, int> word_index;
  std::vector<std::string> vocabulary;
  for (std::size_t i = 0; i < words.size(); ++i) {
    word_index[words[i].first] = int(i);
    vocabulary.push_back(words[i].first);
  }
  const int dim = static_cast<int>(vocabulary.size());

  auto make = [&](const std::vector<Doc>& docs, Split split) {
    Dataset ds;
    ds.name = "reuters21578";
    ds.split = std::string(split_name(split));
    ds.n = static_cast<int>(docs.size());
    ds.feature_dim = dim;
    ds.num_classes = opt.top_topics;
    for (const auto& t : topics) ds.class_names.push_back(t.first);
    ds.feature_names = vocabulary;
    ds.features.assign(std::size_t(ds.n) * std::size_t(dim), 0.0f);
    ds.labels.reserve(docs.size());
    std::vector<int> tf(std::size_t(dim), 0);
    std::vector<int> touched;
    for (std::size_t r = 0; r < docs.size(); ++r) {
      ds.labels.push_back(docs[r].label);
      touched.clear();
      for (const auto& tok : docs[r].tokens) {
        auto it = word_index.find(tok);
        if (it == word_index.end()) continue;
        if (tf[std::size_t(it->second)]++ == 0) touched.push_back(it->second);
      }
      double norm2 = 0;
      for (int j : touched) {
        const double v = std::log1p(double(tf[std::size_t(j)]));
        norm2 += v * v;
      }
      float* row = ds.features.data() + r * std::size_t(dim);
      const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
      for (int j : touched) {
        row[j] = static_cast<float>(std::log1p(double(tf[std::size_t(j)])) * inv);
        tf[std::size_t(j)] = 0;
      }
    }
    return ds;
  };
  return TrainTest{make(train_docs, Split::train), make(test_docs, Split::test)};
}

}  // namespace

std::string decode_sgml_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const std::size_t semi = s.find(';', i + 1);
    if (semi == npos || semi - i > 8) {
      out += '&';
      continue;
    }
    const std::string_view ent = s.substr(i + 1, semi - i - 1);
    int code = -1;
    if (ent == "lt")
      code = '<';
    else if (ent == "gt")
      code = '>';
    else if (ent == "amp")
      code = '&';
    else if (ent == "quot")
      code = '"';
    else if (ent == "apos")
      code = '\'';
    else if (ent.size() >= 2 && ent[0] == '#' &&
             std::all_of(ent.begin() + 1, ent.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      code = std::stoi(std::string(ent.substr(1)));
      if (code > 255) code = ' ';
    }
    if (code < 0) {
      out += '&';
      continue;
    }
    out += static_cast<char>(code);
    i = semi;
  }
  return out;
}

std::vector<std::string> tokenize_reuters(std::string_view text) {
  std::vector<std::string> tokens;
  std::string cur;
  auto flush = [&] {
    if (cur.size() >= 2) tokens.push_back(cur);
    cur.clear();
  };
  for (char c : text) {
    if (c >= 'a' && c <= 'z') {
      cur += c;
    } else if (c >= 'A' && c <= 'Z') {
      cur += static_cast<char>(c - 'A' + 'a');
    } else {
      flush();
    }
  }
  flush();
  return tokens;
}

std::vector<ReutersDocument> parse_reuters_sgml(std::span<const std::uint8_t> bytes,
                                                const std::filesystem::path& source,
                                                const std::string& member) {
  return parse_impl(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    io::Origin{source, member, false, std::string(kHint)});
}

Dataset load_reuters21578(const std::filesystem::path& path, Split split,
                          const ReutersOptions& options) {
  TrainTest tt = build(path, options);
  return split == Split::train ? std::move(tt.train) : std::move(tt.test);
}

TrainTest load_reuters21578_all(const std::filesystem::path& path, const ReutersOptions& options) {
  return build(path, options);
}

}  // namespace gq::data
