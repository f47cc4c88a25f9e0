// Reads SentencePiece's ModelProto (tokenizer.model) with a small protobuf
// wire-format reader: only the fields a BPE tokenizer needs are kept, the rest are
// skipped. Every malformed input ends in a one-line tramontane::Error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tramontane::spm {

// sentencepiece_model.proto, SentencePiece.Type.
enum class PieceType : int {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

// TrainerSpec.ModelType.
enum class ModelType : int { Unigram = 1, Bpe = 2, Word = 3, Char = 4 };

struct Piece {
  std::string piece;
  float score = 0.f;
  PieceType type = PieceType::Normal;
};

// The parts of ModelProto that decide how text is encoded. Defaults are the
// proto2 defaults, which apply when a field is absent from the file.
struct ModelProto {
  std::vector<Piece> pieces;                     // field 1

  // trainer_spec (field 2)
  ModelType model_type = ModelType::Unigram;     // 3
  bool treat_whitespace_as_suffix = false;       // 24
  bool byte_fallback = false;                    // 35
  int unk_id = 0;                                // 40
  int bos_id = 1;                                // 41
  int eos_id = 2;                                // 42
  int pad_id = -1;                               // 43
  std::string unk_surface = " \xE2\x81\x87 ";    // 44

  // normalizer_spec (field 3)
  std::string normalizer_name;                   // 1
  bool has_precompiled_charsmap = false;         // 2 (non-empty)
  bool add_dummy_prefix = true;                  // 3
  bool remove_extra_whitespaces = true;          // 4
  bool escape_whitespaces = true;                // 5
};

// Parses the serialized bytes of a ModelProto. `what` names the file in errors.
// Checks the wire format (varints, lengths, wire types) and the model itself
// (at least one piece, no empty or duplicate pieces, known piece types, valid
// special ids). It does not check that the model is BPE: the caller decides.
ModelProto parse_model(const std::string& bytes, const std::string& what);

// `text` made fit for a one-line message: control characters escaped (\n, \x01),
// cut to `max` bytes.
std::string printable(const std::string& text, size_t max = 400);

}  // namespace tramontane::spm
