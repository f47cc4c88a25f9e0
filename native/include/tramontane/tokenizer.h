// Mistral's SentencePiece BPE with byte fallback (v1 32000, v3 32768 vocabularies).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace tramontane {

class Tokenizer {
 public:
  // Loads tokenizer.json (HF) or tokenizer.model (SentencePiece protobuf); a
  // directory is searched as load_from_dir does. Throws tramontane::Error with a
  // one-line message on a missing or corrupt file.
  static std::unique_ptr<Tokenizer> load(const std::string& path);
  // Looks in a model directory: tokenizer.json first, then tokenizer.model (then
  // Mistral's own tokenizer.model.v3 / .v2 / .v1 names). Returns null when none exists.
  static std::unique_ptr<Tokenizer> load_from_dir(const std::string& dir);
  // Parses a tokenizer held in memory; `name` stands for the file in messages, and
  // its ending (.json / .model) picks the format, else the content does.
  static std::unique_ptr<Tokenizer> from_bytes(const std::string& bytes, const std::string& name);
  virtual ~Tokenizer() = default;

  // Plain text → ids. Control tokens written in the text ("[INST]") are NOT parsed
  // unless parse_special is true. add_bos prepends <s>.
  virtual std::vector<int> encode(const std::string& text, bool add_bos = false,
                                  bool parse_special = false) const = 0;
  // ids → text; control tokens are skipped unless keep_special is true.
  virtual std::string decode(const std::vector<int>& ids, bool keep_special = false) const = 0;

  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
  // -1 when the vocabulary has no such token (e.g. "[SUFFIX]" in v1).
  virtual int token_id(const std::string& piece) const = 0;
  virtual std::string piece(int id) const = 0;  // raw piece as stored ("▁the", "<0x0A>")
  virtual bool is_control(int id) const = 0;

  // Streaming decoder: push ids one at a time, get back only whole UTF-8 characters.
  // The concatenation of everything push() and flush() return equals decode(ids):
  // invalid bytes become U+FFFD (one per maximal ill-formed subsequence, as the
  // WHATWG/Unicode decoders do), and the dummy-prefix space of the first token is
  // dropped. Pass at_start = false when the ids continue text that is already shown
  // (a completion after its prompt): then a leading "▁" is a real space.
  class StreamDecoder {
   public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool at_start = true)
        : tokenizer_(tokenizer), at_start_(at_start) {}
    // Returns the newly completed text (possibly empty). Throws tramontane::Error
    // for an id outside the vocabulary.
    std::string push(int id);
    // Returns whatever is pending (invalid trailing bytes become U+FFFD).
    std::string flush();
    // The next `bytes` bytes pushed are text the caller already has (token healing,
    // engine/heal.h): they are not returned, and the text no longer starts here.
    void skip(size_t bytes) {
      skip_bytes_ = bytes;
      at_start_ = false;
    }

   private:
    const Tokenizer& tokenizer_;
    std::string pending_bytes_;
    bool at_start_ = true;
    size_t skip_bytes_ = 0;
  };

  // Bytes a single token contributes when decoded mid-sequence ("▁" → " ",
  // "<0x0A>" → "\n"); used by StreamDecoder. Control tokens give "".
  virtual std::string token_bytes(int id) const = 0;
  // Bytes it contributes as the first token of decoded text: as token_bytes, less
  // the space the dummy prefix added ("▁Hello" → "Hello"), like SentencePiece.
  virtual std::string leading_token_bytes(int id) const = 0;
};

}  // namespace tramontane
