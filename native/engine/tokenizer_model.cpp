// The tokenizer.model loader: SentencePiece's ModelProto (read by
// sentencepiece_model.h) turned into a TokenizerSpec. Only BPE models with the
// identity normalizer are accepted, as Mistral ships them.
#include <string>

#include "sentencepiece_model.h"
#include "tokenizer_spec.h"

namespace tramontane {

TokenizerSpec read_tokenizer_model(const std::string& bytes, const std::string& path) {
  return sentencepiece_spec(spm::parse_model(bytes, path), path);
}

TokenizerSpec sentencepiece_spec(const spm::ModelProto& model, const std::string& path) {
  if (model.model_type != spm::ModelType::Bpe) {
    static const char* names[] = {"", "UNIGRAM", "BPE", "WORD", "CHAR"};
    tokenizer_fail(path, std::string("SentencePiece model type ") + names[static_cast<int>(model.model_type)] +
                   " is not supported (Mistral's tokenizers are BPE)");
  }
  if (model.has_precompiled_charsmap || !(model.normalizer_name.empty() || model.normalizer_name == "identity")) {
    tokenizer_fail(path, "SentencePiece normalizer \"" + model.normalizer_name +
                   "\" is not supported (only \"identity\", as Mistral's tokenizers use)");
  }
  if (model.treat_whitespace_as_suffix) tokenizer_fail(path, "treat_whitespace_as_suffix is not supported");

  TokenizerSpec spec;
  spec.what = path;
  spec.sentencepiece = true;
  const size_t n = model.pieces.size();
  spec.pieces.reserve(n);
  spec.kinds.reserve(n);
  spec.scores.reserve(n);
  for (const spm::Piece& p : model.pieces) {
    PieceKind kind = PieceKind::Normal;
    switch (p.type) {
      case spm::PieceType::Normal: kind = PieceKind::Normal; break;
      case spm::PieceType::Unknown: kind = PieceKind::Unknown; break;
      case spm::PieceType::Control: kind = PieceKind::Control; break;
      case spm::PieceType::UserDefined: kind = PieceKind::UserDefined; break;
      case spm::PieceType::Unused: kind = PieceKind::Unused; break;
      case spm::PieceType::Byte:
        if (!model.byte_fallback) tokenizer_fail(path, "byte piece \"" + p.piece + "\" in a model without byte_fallback");
        kind = PieceKind::Byte;
        break;
    }
    spec.pieces.push_back(p.piece);
    spec.kinds.push_back(kind);
    spec.scores.push_back(p.score);
  }
  spec.unk_id = model.unk_id;
  spec.bos_id = model.bos_id;
  spec.eos_id = model.eos_id;
  spec.byte_fallback = model.byte_fallback;
  spec.fuse_unk = true;
  spec.unk_surface = model.unk_surface;
  spec.remove_extra_whitespaces = model.remove_extra_whitespaces;
  spec.space = model.escape_whitespaces ? std::string(kMeta) : std::string(" ");
  spec.prefix = model.add_dummy_prefix ? DummyPrefix::Always : DummyPrefix::Never;
  spec.prefix_text = spec.space;
  spec.strip_leading_space = model.add_dummy_prefix;
  return spec;
}

}  // namespace tramontane
