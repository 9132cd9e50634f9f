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

std::string_view inner(std::string_view s, const Element& e) {
  return s.substr(e.inner_begin, e.inner_end - e.inner_begin);
}

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

constexpr std::string_view kDocOpen = "<REUTERS", kDocClose = "</REUTERS>";

// A </REUTERS> in s[pos, limit), between two documents, closes nothing.
void reject_stray_close(std::string_view s, std::size_t pos, std::size_t limit,
                        const std::vector<ReutersDocument>& docs, const io::Origin& origin) {
  const std::size_t stray = s.find(kDocClose, pos);
  if (stray == npos || stray >= limit) return;
  io::fail(origin, static_cast<std::int64_t>(stray), "</REUTERS> without a matching <REUTERS>",
           "a <REUTERS ...> start tag before it",
           docs.empty() ? std::string("none in the file")
                        : fmt::format("the previous document (NEWID {}) already closed",
                                      docs.back().newid));
}

// The offset of the </REUTERS> that closes the document whose start tag (at `start`) ends at
// `gt`. Documents do not nest: a <REUTERS> before it means this one is unterminated.
std::size_t document_end(std::string_view s, std::size_t start, std::size_t gt,
                         const std::optional<std::string>& newid, const io::Origin& origin) {
  const std::size_t end = s.find(kDocClose, gt);
  const std::size_t next = find_start_tag(s, kDocOpen, gt);
  if (end == npos || (next != npos && next < end)) {
    io::fail(origin, static_cast<std::int64_t>(start),
             fmt::format("unterminated <REUTERS> element (NEWID {})", newid.value_or("?")),
             "</REUTERS> closing it",
             next != npos && (end == npos || next < end)
                 ? fmt::format("the next <REUTERS> at byte offset {} first", next)
                 : fmt::format("end of file at byte offset {}", s.size()));
  }
  return end;
}

// NEWID: a positive decimal of at most 9 digits (std::stoi cannot overflow).
int parse_newid(const std::optional<std::string>& newid, std::int64_t at,
                const io::Origin& origin) {
  if (!newid || newid->empty() ||
      !std::all_of(newid->begin(), newid->end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      newid->size() > 9 || std::stoi(*newid) == 0) {
    io::fail(origin, at, "missing or invalid NEWID attribute", "NEWID=\"<positive integer>\"",
             newid ? "NEWID=\"" + *newid + "\"" : "none");
  }
  return std::stoi(*newid);
}

// An attribute of the start tag that must hold one of three values (LEWISSPLIT, TOPICS).
std::string attribute_of(std::string_view tag, std::string_view name,
                         const std::array<std::string_view, 3>& values, int newid, std::int64_t at,
                         const io::Origin& origin) {
  const auto v = attribute(tag, name);
  if (!v || std::find(values.begin(), values.end(), *v) == values.end()) {
    io::fail(origin, at, fmt::format("missing or invalid {} attribute (NEWID {})", name, newid),
             fmt::format("{}=\"{}\", \"{}\" or \"{}\"", name, values[0], values[1], values[2]),
             v ? fmt::format("{}=\"{}\"", name, *v) : "none");
  }
  return *v;
}

// The <D> entries of the <TOPICS> element in s[from, to), if there is one.
std::vector<std::string> read_topics(std::string_view s, std::size_t from, std::size_t to,
                                     const io::Origin& origin) {
  std::vector<std::string> topics;
  if (auto t = find_element(s, from, to, "TOPICS", origin)) {
    std::size_t p = t->inner_begin;
    while (auto d = find_element(s, p, t->inner_end, "D", origin)) {
      topics.emplace_back(inner(s, *d));
      p = d->inner_end + 4;  // past "</D>"
    }
  }
  return topics;
}

// TITLE + "\n" + BODY of the <TEXT> element in s[from, to), entities decoded; a TEXT with neither
// (TYPE="UNPROC": unstructured text) is taken whole, tags stripped. No TEXT: empty.
std::string read_text(std::string_view s, std::size_t from, std::size_t to,
                      const io::Origin& origin) {
  const auto text = find_element(s, from, to, "TEXT", origin);
  if (!text) return {};
  const auto title = find_element(s, text->inner_begin, text->inner_end, "TITLE", origin);
  const auto body = find_element(s, text->inner_begin, text->inner_end, "BODY", origin);
  if (!title && !body) return decode_sgml_entities(strip_tags(inner(s, *text)));
  std::string raw;
  if (title) raw.append(inner(s, *title));
  raw += '\n';
  if (body) raw.append(inner(s, *body));
  return decode_sgml_entities(raw);
}

// The document whose <REUTERS start tag is at `start`; `end` receives its </REUTERS>'s offset.
ReutersDocument parse_document(std::string_view s, std::size_t start, std::size_t& end,
                               const io::Origin& origin) {
  const auto at = static_cast<std::int64_t>(start);
  const std::size_t gt = s.find('>', start);
  if (gt == npos) {
    io::fail(origin, at, "unterminated <REUTERS start tag", "'>' closing the tag", "end of file");
  }
  const std::string_view tag = s.substr(start, gt + 1 - start);
  const auto newid = attribute(tag, "NEWID");
  end = document_end(s, start, gt, newid, origin);
  ReutersDocument d;
  d.offset = at;
  d.newid = parse_newid(newid, at, origin);
  d.lewissplit = attribute_of(tag, "LEWISSPLIT", {"TRAIN", "TEST", "NOT-USED"}, d.newid, at, origin);
  d.topics_attr = attribute_of(tag, "TOPICS", {"YES", "NO", "BYPASS"}, d.newid, at, origin);
  d.topics = read_topics(s, gt + 1, end, origin);
  d.text = read_text(s, gt + 1, end, origin);
  return d;
}

std::vector<ReutersDocument> parse_impl(std::string_view s, const io::Origin& origin) {
  std::vector<ReutersDocument> docs;
  std::size_t pos = 0;
  while (true) {
    const std::size_t start = find_start_tag(s, kDocOpen, pos);
    reject_stray_close(s, pos, start == npos ? s.size() : start, docs, origin);
    if (start == npos) break;
    std::size_t end = 0;
    docs.push_back(parse_document(s, start, end, origin));
    pos = end + kDocClose.size();
  }
  if (docs.empty()) {
    io::fail(origin, 0, "no documents", "<REUTERS ...> elements",
             fmt::format("none in {} bytes", s.size()));
  }
  return docs;
}

std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

io::Origin origin_of(const std::filesystem::path& file, std::string member = {}) {
  return io::Origin{file, std::move(member), false, std::string(kHint)};
}

// The 22 files' documents, each file with the origin its messages name.
struct Files {
  std::array<std::vector<ReutersDocument>, kFiles> docs;
  std::array<io::Origin, kFiles> origins;

  void parse(int i, std::span<const std::uint8_t> bytes, io::Origin origin) {
    origins[std::size_t(i)] = std::move(origin);
    docs[std::size_t(i)] = parse_impl(as_text(bytes), origins[std::size_t(i)]);
  }
};

// Members reut2-000.sgm ... reut2-021.sgm, in any folder of the archive; the first of each counts.
void read_archive(const std::filesystem::path& file, Files& files) {
  io::ArchiveReader reader(file, std::string(kHint));
  io::ArchiveReader::Entry e;
  std::array<bool, kFiles> found{};
  int remaining = kFiles;
  while (remaining > 0 && reader.next(e)) {
    const int i = sgm_index(e.base);
    if (!e.regular || i < 0 || found[std::size_t(i)]) continue;
    const auto bytes = reader.read(kMaxSgmBytes);
    files.parse(i, bytes, reader.origin_of(e.path));
    found[std::size_t(i)] = true;
    --remaining;
  }
  if (remaining == 0) return;
  std::vector<std::string> missing;
  for (int i = 0; i < kFiles; ++i) {
    if (!found[std::size_t(i)]) missing.push_back(sgm_name(i));
  }
  io::fail(origin_of(file), -1,
           reader.seen().empty() ? "empty archive" : "missing Reuters-21578 member(s)",
           "members reut2-000.sgm ... reut2-021.sgm (in any folder)",
           fmt::format("{} members, without {}{}", reader.seen().size(), fmt::join(missing, ", "),
                       reader.not_regular_among(missing)));
}

// reut2-000.sgm ... reut2-021.sgm in `dir`; all are looked for before any is read.
void read_dir(const std::filesystem::path& dir, Files& files) {
  std::error_code ec;
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
    files.parse(i, io::read_file(file, kHint, kMaxSgmBytes, "a Reuters-21578 SGML file"),
                origin_of(file));
  }
}

// `path` is the archive, or a folder holding the .sgm files, a reuters21578/ folder of them or
// the archive (.tar.xz first).
Files read_files(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) io::fail_missing("Reuters-21578 data", {path}, kHint);
  Files files;
  if (std::filesystem::is_regular_file(path, ec)) {
    if (!io::is_tar_name(path)) {
      io::fail(origin_of(path), -1, "not a Reuters-21578 archive",
               "a directory or a .tar.xz/.tar.gz/.tar archive", "another kind of file");
    }
    read_archive(path, files);
  } else if (!std::filesystem::is_directory(path, ec)) {
    read_archive(path, files);  // neither a file nor a folder: the archive reader says what it is
  } else if (std::filesystem::exists(path / sgm_name(0), ec)) {
    read_dir(path, files);
  } else if (std::filesystem::exists(path / "reuters21578" / sgm_name(0), ec)) {
    read_dir(path / "reuters21578", files);
  } else if (std::filesystem::is_regular_file(path / "reuters21578.tar.xz", ec)) {
    read_archive(path / "reuters21578.tar.xz", files);
  } else if (std::filesystem::is_regular_file(path / "reuters21578.tar.gz", ec)) {
    read_archive(path / "reuters21578.tar.gz", files);
  } else {
    io::fail_missing(fmt::format("Reuters-21578 data in directory {}", path.string()),
                     {path / sgm_name(0), path / "reuters21578" / sgm_name(0),
                      path / "reuters21578.tar.xz", path / "reuters21578.tar.gz"},
                     kHint);
  }
  return files;
}

// All documents, in file order; a NEWID is unique across the files.
std::vector<ReutersDocument> read_all(const std::filesystem::path& path) {
  Files files = read_files(path);
  std::vector<ReutersDocument> all;
  std::unordered_map<int, int> first_file;
  for (int i = 0; i < kFiles; ++i) {
    for (auto& d : files.docs[std::size_t(i)]) {
      auto [it, fresh] = first_file.emplace(d.newid, i);
      if (!fresh) {
        io::fail(files.origins[std::size_t(i)], d.offset,
                 fmt::format("duplicate NEWID {}", d.newid), "unique NEWIDs",
                 fmt::format("NEWID {} also in {}", d.newid, sgm_name(it->second)));
      }
      all.push_back(std::move(d));
    }
  }
  return all;
}

// ModApte single-label documents of one Lewis split.
bool modapte(const ReutersDocument& d, std::string_view split) {
  return d.topics_attr == "YES" && d.lewissplit == split && d.topics.size() == 1;
}

// The classes: the `count` most frequent topics of the ModApte train split, most frequent first
// (ties alphabetical).
std::vector<std::string> top_topics(const std::vector<ReutersDocument>& all, int count,
                                    const std::filesystem::path& path) {
  std::map<std::string, int> topic_count;
  for (const auto& d : all) {
    if (modapte(d, "TRAIN")) ++topic_count[d.topics[0]];
  }
  std::vector<std::pair<std::string, int>> topics(topic_count.begin(), topic_count.end());
  std::stable_sort(topics.begin(), topics.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (static_cast<int>(topics.size()) < count) {
    throw DataError(fmt::format("{}: top_topics={} but the ModApte train split has only {} topics "
                                "with single-label documents; ask for fewer topics",
                                path.string(), count, topics.size()),
                    path.string());
  }
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(topics[std::size_t(i)].first);
  return names;
}

struct Doc {
  int label;
  std::vector<std::string> tokens;
};
struct Docs {
  std::vector<Doc> train, test;
};

// The ModApte documents of the classes, tokenized, labelled by their topic's index in `classes`.
Docs labelled_docs(const std::vector<ReutersDocument>& all,
                   const std::vector<std::string>& classes) {
  std::unordered_map<std::string, int> topic_index;
  for (std::size_t i = 0; i < classes.size(); ++i) topic_index[classes[i]] = int(i);
  Docs out;
  for (const auto& d : all) {
    const bool train = modapte(d, "TRAIN"), test = modapte(d, "TEST");
    if (!train && !test) continue;
    auto it = topic_index.find(d.topics[0]);
    if (it == topic_index.end()) continue;
    (train ? out.train : out.test).push_back(Doc{it->second, tokenize_reuters(d.text)});
  }
  return out;
}

struct Vocabulary {
  std::vector<std::string> words;
  std::unordered_map<std::string, int> index;  // word -> feature
};

// The `size` words of highest document frequency over the train documents; ties alphabetical.
Vocabulary vocabulary(const std::vector<Doc>& train, int size) {
  std::unordered_map<std::string, int> df;
  for (const auto& doc : train) {
    std::unordered_set<std::string_view> unique(doc.tokens.begin(), doc.tokens.end());
    for (auto t : unique) ++df[std::string(t)];
  }
  std::vector<std::pair<std::string, int>> words(df.begin(), df.end());
  std::sort(words.begin(), words.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (words.size() > static_cast<std::size_t>(size)) words.resize(std::size_t(size));
  Vocabulary v;
  for (std::size_t i = 0; i < words.size(); ++i) {
    v.index[words[i].first] = int(i);
    v.words.push_back(words[i].first);
  }
  return v;
}

// One split as features: log(1 + term count) over the vocabulary, each row L2-normalised.
Dataset bag_of_words(const std::vector<Doc>& docs, Split split,
                     const std::vector<std::string>& classes, const Vocabulary& vocab) {
  const int dim = static_cast<int>(vocab.words.size());
  Dataset ds;
  ds.name = "reuters21578";
  ds.split = std::string(split_name(split));
  ds.n = static_cast<int>(docs.size());
  ds.feature_dim = dim;
  ds.num_classes = static_cast<int>(classes.size());
  ds.class_names = classes;
  ds.feature_names = vocab.words;
  ds.features.assign(std::size_t(ds.n) * std::size_t(dim), 0.0f);
  ds.labels.reserve(docs.size());
  std::vector<int> tf(std::size_t(dim), 0);  // zero again after each row
  std::vector<int> touched;
  for (std::size_t r = 0; r < docs.size(); ++r) {
    ds.labels.push_back(docs[r].label);
    touched.clear();
    for (const auto& tok : docs[r].tokens) {
      auto it = vocab.index.find(tok);
      if (it == vocab.index.end()) continue;
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
}

TrainTest build(const std::filesystem::path& path, const ReutersOptions& opt) {
  GQ_CHECK(opt.top_topics >= 1, "ReutersOptions::top_topics must be >= 1, got {}", opt.top_topics);
  GQ_CHECK(opt.vocab >= 1, "ReutersOptions::vocab must be >= 1, got {}", opt.vocab);
  const std::vector<ReutersDocument> all = read_all(path);
  const std::vector<std::string> classes = top_topics(all, opt.top_topics, path);
  const Docs docs = labelled_docs(all, classes);
  // Both splits share the classes and the vocabulary of the train split.
  const Vocabulary vocab = vocabulary(docs.train, opt.vocab);
  return TrainTest{bag_of_words(docs.train, Split::train, classes, vocab),
                   bag_of_words(docs.test, Split::test, classes, vocab)};
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
  return parse_impl(as_text(bytes), origin_of(source, member));
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
