// A model file truncated or rewritten on disk while it is mapped: the process lives,
// and the next forward pass says so in one line (native/engine/mapped_file.h).
// Without the guard, reading a truncated page raises SIGBUS and this program dies.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "mapped_file.h"
#include "tramontane/engine.h"

using harness::TempDir;
using tramontane::Error;
using tramontane::LoadOptions;
using tramontane::MappedFile;
using tramontane::Model;
using tramontane::SessionOptions;

namespace {

// The repository's small HF test model (config.json + model.safetensors), read
// relative to this source file so the test runs from any directory.
std::string fixture_dir() {
  const std::string self = __FILE__;
  return self.substr(0, self.rfind("/native/tests/")) + "/test/fixtures/models/gqa_window";
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A copy of the fixture model the test may damage.
void copy_model(const TempDir& dir) {
  for (const char* name : {"config.json", "model.safetensors"}) {
    dir.write(name, read(fixture_dir() + "/" + name));
  }
}

off_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

std::vector<int> prompt() { return {1, 5, 9, 17, 33, 2, 64, 100}; }

}  // namespace

TEST(a_read_past_a_truncated_end_gives_zeros_and_marks_the_file) {
  TempDir dir;
  const std::string path = dir.write("weights.bin", std::string(4 * 65536, '\x7f'));
  MappedFile file(path);
  CHECK(!file.changed());
  CHECK(::truncate(path.c_str(), 4096) == 0);
  const volatile uint8_t* bytes = file.data();
  CHECK(bytes[100] == 0x7f);             // still in the file
  CHECK(bytes[3 * 65536 + 5] == 0);      // past its new end: SIGBUS without the guard
  CHECK(file.changed());
  EXPECT_ERROR(MappedFile::throw_if_any_changed(), "weights.bin", "changed on disk", "reload");
}

TEST(a_model_truncated_while_loaded_reports_and_the_process_lives) {
  TempDir dir;
  copy_model(dir);
  const std::string weights = dir.file("model.safetensors");
  {
    auto model = Model::load(dir.path, LoadOptions{});
    auto session = model->new_session(SessionOptions{});
    const std::vector<int> ids = prompt();
    session->feed(ids.data(), 4, nullptr);  // works while the file is whole
    CHECK(::truncate(weights.c_str(), file_size(weights) / 3) == 0);
    EXPECT_ERROR(session->feed(ids.data() + 4, 4, nullptr), "model.safetensors", "changed on disk",
                 "reload the model");
    // A new session of the same model fails the same way, never silently.
    auto again = model->new_session(SessionOptions{});
    EXPECT_ERROR(again->feed(ids.data(), 2, nullptr), "changed on disk");
  }
  // Reloading the repaired file works: the stale mapping went with the old model.
  copy_model(dir);
  auto model = Model::load(dir.path, LoadOptions{});
  auto session = model->new_session(SessionOptions{});
  const std::vector<int> ids = prompt();
  session->feed(ids.data(), ids.size(), nullptr);
  CHECK(session->last_logits() != nullptr);
}

TEST(a_model_rewritten_in_place_reports) {
  TempDir dir;
  copy_model(dir);
  const std::string weights = dir.file("model.safetensors");
  auto model = Model::load(dir.path, LoadOptions{});
  auto session = model->new_session(SessionOptions{});
  const std::vector<int> ids = prompt();
  session->feed(ids.data(), 2, nullptr);
  // Same size, other bytes: no signal, but the modification time moves.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::string bytes = read(weights);
  bytes[bytes.size() - 1] ^= 1;
  {
    std::fstream out(weights, std::ios::in | std::ios::out | std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
  }
  EXPECT_ERROR(session->feed(ids.data() + 2, 2, nullptr), "changed on disk");
}

TEST(a_model_replaced_by_rename_keeps_working) {
  TempDir dir;
  copy_model(dir);
  const std::string weights = dir.file("model.safetensors");
  auto model = Model::load(dir.path, LoadOptions{});
  auto session = model->new_session(SessionOptions{});
  const std::vector<int> ids = prompt();
  session->feed(ids.data(), 2, nullptr);
  // The usual way tools write: a new file renamed over the old one. The mapping keeps
  // the old file, which is whole.
  dir.write("new.safetensors", read(weights));
  CHECK(::rename(dir.file("new.safetensors").c_str(), weights.c_str()) == 0);
  session->feed(ids.data() + 2, 2, nullptr);
  CHECK(session->tokens().size() == 4);
}

int main() { return harness::run_all(); }
