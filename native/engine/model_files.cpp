#include "model_files.h"

#include "gguf_model.h"
#include "gguf_source.h"
#include "safetensors.h"
#include "tokenizer_gguf.h"

namespace tramontane {

// The GGUF file to load: path itself when it names one, else the single .gguf in a
// folder without config.json / params.json; "" for a safetensors model.
static std::string gguf_model_path(const std::string& path) {
  if (gguf::is_gguf_path(path) && files::is_file(path)) return path;
  if (!files::is_directory(path) || files::is_file(files::join(path, "config.json")) ||
      files::is_file(files::join(path, "params.json"))) {
    return "";
  }
  return gguf::find_in_directory(path);
}

static ModelFiles open_gguf(const std::string& path, int sliding_window) {
  auto file = std::make_unique<gguf::File>(path);
  ModelFiles files;
  files.format = ModelFormat::Gguf;
  files.tokenizer = gguf_tokenizer(*file);
  if (file->tensors().empty()) {
    if (!files.tokenizer) file->fail("no tensors and no tokenizer");
    files.config = gguf_vocabulary_config(*file, *files.tokenizer);
    files.vocabulary_only = true;
  } else {
    files.config = gguf_config(*file, sliding_window);
    files.config.window_missing =
        files.config.sliding_window == 0 && gguf_window_missing(*file, files.config);
  }
  files.tensors = std::make_unique<GgufSource>(std::move(file));
  return files;
}

ModelFiles open_model_files(const std::string& dir, int sliding_window) {
  const std::string gguf_path = gguf_model_path(dir);
  if (!gguf_path.empty()) {
    return open_gguf(gguf_path, sliding_window);
  }
  LoadedConfig loaded = load_config(dir);
  ModelFiles files;
  files.config = loaded.config;
  files.format = loaded.format;
  if (loaded.format == ModelFormat::HuggingFace) {
    files.tensors = SafetensorsSource::open_hf(dir);
  } else {
    files.tensors = SafetensorsSource::open_consolidated(dir);
  }
  return files;
}

}  // namespace tramontane
