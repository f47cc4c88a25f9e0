// The tokenizer.json loader (Hugging Face tokenizers): a BPE model with Mistral's
// normalization, either the legacy layout (normalizer Prepend("▁") + Replace(" ", "▁"))
// or a Metaspace pre-tokenizer, turned into a TokenizerSpec. Other normalizers and
// pre-tokenizers are refused by name.
#include <algorithm>
#include <string>
#include <vector>

#include "json.h"
#include "tokenizer_spec.h"

namespace tramontane {
namespace {

const json::Value* member(const json::Value& object, const char* key) {
  const json::Value* v = object.find(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string string_pattern(const json::Value& pattern, const std::string& path) {
  if (const json::Value* s = member(pattern, "String")) return s->as_string("pattern.String");
  tokenizer_fail(path, "only String patterns are supported in Replace");
}

// One step of an HF normalizer: Prepend(text) or Replace(from, to).
struct NormalizerStep {
  bool prepend;
  std::string text;  // Prepend's text, or Replace's pattern
  std::string to;    // Replace's content
};

// Mistral's "legacy" layout: Prepend("▁") and Replace(" ", "▁"), in a Sequence or alone.
void read_normalizer(const json::Value& node, const std::string& path, std::vector<NormalizerStep>& steps) {
  const json::Value* type = member(node, "type");
  if (!type) tokenizer_fail(path, "normalizer without a type");
  const std::string& t = type->as_string("normalizer.type");
  if (t == "Sequence") {
    const json::Value* list = member(node, "normalizers");
    if (!list) tokenizer_fail(path, "Sequence normalizer without \"normalizers\"");
    for (const json::Value& child : list->as_array("normalizers")) read_normalizer(child, path, steps);
  } else if (t == "Prepend") {
    const json::Value* p = member(node, "prepend");
    if (!p) tokenizer_fail(path, "Prepend normalizer without \"prepend\"");
    steps.push_back({true, p->as_string("Prepend.prepend"), {}});
  } else if (t == "Replace") {
    const json::Value* pattern = member(node, "pattern");
    const json::Value* content = member(node, "content");
    if (!pattern || !content) tokenizer_fail(path, "Replace normalizer without pattern or content");
    steps.push_back({false, string_pattern(*pattern, path), content->as_string("Replace.content")});
  } else {
    tokenizer_fail(path, "normalizer \"" + t + "\" is not supported (Mistral's tokenizers use Prepend and Replace)");
  }
}

DummyPrefix read_prepend_scheme(const json::Value& node, const std::string& path) {
  if (const json::Value* scheme = member(node, "prepend_scheme")) {
    const std::string& s = scheme->as_string("prepend_scheme");
    if (s == "always") return DummyPrefix::MetaspaceAlways;
    if (s == "first") return DummyPrefix::MetaspaceFirst;
    if (s == "never") return DummyPrefix::Never;
    tokenizer_fail(path, "unknown Metaspace prepend_scheme \"" + s + "\"");
  }
  if (const json::Value* add = member(node, "add_prefix_space")) {
    return add->as_bool("add_prefix_space") ? DummyPrefix::MetaspaceAlways : DummyPrefix::Never;
  }
  return DummyPrefix::MetaspaceAlways;
}

// The Metaspace pre-tokenizer, alone or the only member of a Sequence; null otherwise.
const json::Value* find_metaspace(const json::Value& node, const std::string& path) {
  const json::Value* type = member(node, "type");
  if (!type) tokenizer_fail(path, "pre_tokenizer without a type");
  const std::string& t = type->as_string("pre_tokenizer.type");
  if (t == "Metaspace") return &node;
  if (t == "Sequence") {
    const json::Value* list = member(node, "pretokenizers");
    if (list && list->as_array("pretokenizers").size() == 1) return find_metaspace(list->as_array()[0], path);
  }
  return nullptr;
}

// The decoder decides whether the first token's leading space is dropped:
// Strip(" ", 1, 0) after Replace("▁", " ") in the legacy layout, or Metaspace.
bool decoder_strips(const json::Value& node, const std::string& path, bool& known) {
  const json::Value* type = member(node, "type");
  if (!type) tokenizer_fail(path, "decoder without a type");
  const std::string& t = type->as_string("decoder.type");
  if (t == "Sequence") {
    bool strips = false;
    if (const json::Value* list = member(node, "decoders")) {
      for (const json::Value& child : list->as_array("decoders")) strips = decoder_strips(child, path, known) || strips;
    }
    return strips;
  }
  if (t == "Strip") {
    known = true;
    const json::Value* content = member(node, "content");
    const json::Value* start = member(node, "start");
    return content && content->as_string("Strip.content") == " " && start && start->as_int("Strip.start") >= 1;
  }
  if (t == "Metaspace") {
    known = true;
    return read_prepend_scheme(node, path) != DummyPrefix::Never;
  }
  return false;
}

}  // namespace

TokenizerSpec read_tokenizer_json(const std::string& text, const std::string& path) {
  const json::Value root = json::Value::parse(text, path);
  if (!root.is_object()) tokenizer_fail(path, "expected a JSON object at the top level");
  const json::Value* model = member(root, "model");
  if (!model || !model->is_object()) tokenizer_fail(path, "no \"model\" object (not a tokenizer.json?)");
  if (const json::Value* type = member(*model, "type")) {
    const std::string& t = type->as_string("model.type");
    if (t != "BPE") tokenizer_fail(path, "model type \"" + t + "\" is not supported (Mistral's tokenizers are BPE)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json::Value* v = member(*model, key)) {
      if (!v->as_string(key).empty()) tokenizer_fail(path, std::string(key) + " is not supported");
    }
  }
  const json::Value* vocab = member(*model, "vocab");
  if (!vocab || !vocab->is_object()) tokenizer_fail(path, "model.vocab should be an object of token → id");
  const json::Value* merges = member(*model, "merges");
  if (!merges || !merges->is_array()) tokenizer_fail(path, "model.merges should be an array");

  TokenizerSpec spec;
  spec.what = path;
  // Ids may leave a few holes, not a corrupt file's worth of them: a huge id would
  // otherwise allocate gigabytes.
  const size_t entries = vocab->as_object().size() + (member(root, "added_tokens") && member(root, "added_tokens")->is_array()
                                                          ? member(root, "added_tokens")->as_array().size()
                                                          : 0);
  const int64_t kMaxVocab = std::min<int64_t>(int64_t{1} << 24, static_cast<int64_t>(entries) * 4 + 4096);
  auto place = [&](int64_t id, const std::string& piece, const char* where) {
    if (id < 0 || id >= kMaxVocab) tokenizer_fail(path, std::string(where) + " id " + std::to_string(id) + " of \"" + piece + "\" is out of range");
    if (static_cast<size_t>(id) >= spec.pieces.size()) {
      spec.pieces.resize(id + 1);
      spec.kinds.resize(id + 1, PieceKind::Unused);
    }
    std::string& slot = spec.pieces[id];
    if (!slot.empty() && slot != piece) {
      tokenizer_fail(path, std::string(where) + " id " + std::to_string(id) + " is both \"" + slot + "\" and \"" + piece + "\"");
    }
    slot = piece;
  };
  for (const auto& [piece, id] : vocab->as_object("model.vocab")) {
    if (piece.empty()) tokenizer_fail(path, "model.vocab has an empty token");
    place(id.as_int("model.vocab id"), piece, "model.vocab");
    spec.kinds[id.as_int()] = parse_byte_piece(piece) >= 0 ? PieceKind::Byte : PieceKind::Normal;
  }
  if (spec.pieces.empty()) tokenizer_fail(path, "model.vocab is empty");

  spec.byte_fallback = member(*model, "byte_fallback") && member(*model, "byte_fallback")->as_bool("model.byte_fallback");
  spec.fuse_unk = member(*model, "fuse_unk") && member(*model, "fuse_unk")->as_bool("model.fuse_unk");
  spec.ignore_merges = member(*model, "ignore_merges") && member(*model, "ignore_merges")->as_bool("model.ignore_merges");
  std::string unk_token;
  if (const json::Value* unk = member(*model, "unk_token")) unk_token = unk->as_string("model.unk_token");

  if (const json::Value* added = member(root, "added_tokens")) {
    for (const json::Value& token : added->as_array("added_tokens")) {
      const json::Value* id = member(token, "id");
      const json::Value* content = member(token, "content");
      if (!id || !content) tokenizer_fail(path, "an added token without id or content");
      const std::string& piece = content->as_string("added_tokens content");
      if (piece.empty()) tokenizer_fail(path, "an added token is empty");
      const int64_t i = id->as_int("added_tokens id");
      place(i, piece, "added_tokens");
      const json::Value* special = member(token, "special");
      spec.kinds[i] = special && special->as_bool("added_tokens special") ? PieceKind::Control : PieceKind::UserDefined;
    }
  }
  for (size_t id = 0; id < spec.pieces.size(); ++id) {
    if (spec.pieces[id] == unk_token && !unk_token.empty()) {
      spec.unk_id = static_cast<int>(id);
      if (spec.kinds[id] != PieceKind::Control) spec.kinds[id] = PieceKind::Unknown;
    }
    if (spec.pieces[id] == "<s>") spec.bos_id = static_cast<int>(id);
    if (spec.pieces[id] == "</s>") spec.eos_id = static_cast<int>(id);
  }
  if (!unk_token.empty() && spec.unk_id < 0) tokenizer_fail(path, "unk_token \"" + unk_token + "\" is not in the vocabulary");
  if (spec.unk_id >= 0) spec.unk_surface = spec.pieces[spec.unk_id];

  spec.merges.reserve(merges->as_array().size());
  for (const json::Value& m : merges->as_array()) {
    if (m.is_string()) {
      const std::string& s = m.as_string();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        tokenizer_fail(path, "merge \"" + s + "\" is not two tokens separated by one space");
      }
      spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.as_array().size() == 2) {
      spec.merges.emplace_back(m.as_array()[0].as_string("merge part"), m.as_array()[1].as_string("merge part"));
    } else {
      tokenizer_fail(path, "model.merges entries should be \"a b\" strings or [a, b] pairs");
    }
  }

  // Normalization: the legacy layout (normalizer Prepend + Replace) or a Metaspace
  // pre-tokenizer.
  spec.prefix = DummyPrefix::Never;
  spec.space = " ";
  bool prefix_from_normalizer = false;
  if (const json::Value* normalizer = member(root, "normalizer")) {
    std::vector<NormalizerStep> steps;
    read_normalizer(*normalizer, path, steps);
    for (size_t i = 0; i < steps.size(); ++i) {
      const NormalizerStep& step = steps[i];
      if (step.prepend) {
        if (prefix_from_normalizer) tokenizer_fail(path, "two Prepend normalizers are not supported");
        // Later replacements apply to the prepended text too.
        std::string text = step.text;
        for (size_t j = i + 1; j < steps.size(); ++j) {
          if (!steps[j].prepend) text = replace_all(text, steps[j].text, steps[j].to);
        }
        spec.prefix = DummyPrefix::Always;
        spec.prefix_text = text;
        prefix_from_normalizer = true;
      } else {
        if (step.text != " ") tokenizer_fail(path, "Replace(\"" + step.text + "\") is not supported (only spaces are replaced)");
        if (spec.space != " ") tokenizer_fail(path, "two space replacements are not supported");
        spec.space = step.to;
      }
    }
  }
  if (const json::Value* pre = member(root, "pre_tokenizer")) {
    const json::Value* metaspace = find_metaspace(*pre, path);
    if (!metaspace) tokenizer_fail(path, "this pre_tokenizer is not supported (Mistral's tokenizers use none or Metaspace)");
    if (prefix_from_normalizer || spec.space != " ") tokenizer_fail(path, "both a normalizer and a Metaspace pre-tokenizer add \"▁\"");
    std::string replacement{kMeta};
    if (const json::Value* r = member(*metaspace, "replacement")) replacement = r->as_string("Metaspace.replacement");
    spec.space = replacement;
    spec.prefix_text = replacement;
    spec.prefix = read_prepend_scheme(*metaspace, path);
    const json::Value* split = member(*metaspace, "split");
    spec.split_words = split ? split->as_bool("Metaspace.split") : true;
  }
  spec.strip_leading_space = spec.prefix != DummyPrefix::Never;
  if (const json::Value* decoder = member(root, "decoder")) {
    bool known = false;
    const bool strips = decoder_strips(*decoder, path, known);
    if (known) spec.strip_leading_space = strips;
  }
  return spec;
}

}  // namespace tramontane
