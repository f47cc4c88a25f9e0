// The tokenizer a GGUF file carries in its metadata (tokenizer.ggml.*), built as the
// same SentencePiece model a tokenizer.model file gives, so both encode identically.
#pragma once

#include <memory>
#include <string>

#include "gguf.h"
#include "sentencepiece_model.h"
#include "tramontane/tokenizer.h"

namespace tramontane {

// Null when the file has no tokenizer.ggml.model. Only the "llama" model (SentencePiece
// pieces with scores and types) is read; another is a one-line Error naming it. Keys:
//   tokens (string array), scores (float32 array, default 0), token_type (int32 array:
//   1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; default normal),
//   bos/eos/unknown_token_id (default 1/2/0), add_space_prefix (default true),
//   remove_extra_whitespaces (default false). Byte fallback is on when byte pieces exist.
std::unique_ptr<Tokenizer> gguf_tokenizer(const gguf::File& file);

// The checks spm::parse_model applies to a tokenizer.model, for a model built elsewhere:
// pieces non-empty and distinct, scores not NaN, one UNKNOWN piece at unk_id, special ids
// in range.
void check_sentencepiece_model(const spm::ModelProto& model, const std::string& what);

}  // namespace tramontane
