// Mistral's own layout split over several files, as its repositories publish the large
// models: params.json + consolidated-00001-of-0000M.safetensors ..., with or without
// consolidated.safetensors.index.json.
//
// What is checked: the Mixtral fixture `mixtral_consolidated`, split here into shards
// (tensors dealt round-robin, so one layer's experts spread over every shard), gives
// bit-identical logits to its single file, with and without the index; and one clear
// error for each bad folder: a shard of the set missing, a tensor in two shards, a
// tensor in none, the single file beside shards, two sets of shards, one shard spelled
// twice.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "harness.h"
#include "safetensors.h"
#include "tramontane/engine.h"

using namespace tramontane;
using harness::read_file;
using harness::TempDir;
using harness::write_file;

static const std::string kFixture = harness::repo_path("test/fixtures/models/mixtral_consolidated");

static const char* dtype_name(StoredType type) {
  switch (type) {
    case StoredType::F32: return "F32";
    case StoredType::BF16: return "BF16";
    case StoredType::F16: return "F16";
    default: throw std::runtime_error("not a safetensors type");
  }
}

// A safetensors file holding these tensors, bytes as they are:
// [u64 header length][JSON header, padded with spaces to 8 bytes][data].
static std::string encode(const std::vector<const TensorView*>& tensors) {
  std::string header = "{", data;
  for (const TensorView* t : tensors) {
    std::string shape;
    for (int64_t d : t->shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += (header.size() > 1 ? "," : "") + ("\"" + t->name + "\":{\"dtype\":\"" + dtype_name(t->type) +
              "\",\"shape\":[" + shape + "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t->nbytes) + "]}");
    data.append(static_cast<const char*>(t->data), t->nbytes);
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + data;
}

static std::string shard_name(int n, int of) {
  char name[64];
  std::snprintf(name, sizeof name, "consolidated-%05d-of-%05d.safetensors", n, of);
  return name;
}

// The fixture's tensors, dealt round-robin over `of` shards in dir, with params.json;
// and consolidated.safetensors.index.json when `index`. Tensors named in `skip` are
// left out; those in `twice` are written to the next shard as well.
struct Split {
  int of = 2;
  bool index = false;
  std::vector<std::string> skip, twice;

  void write(const TempDir& dir) const {
    write_file(dir.file("params.json"), read_file(kFixture + "/params.json"));
    SafetensorsFile single(kFixture + "/consolidated.safetensors");
    std::vector<std::vector<const TensorView*>> shards(static_cast<size_t>(of));
    std::string map;
    size_t i = 0;
    for (const TensorView& t : single.tensors()) {
      if (has(skip, t.name)) continue;
      const size_t at = i++ % size_t(of);
      shards[at].push_back(&t);
      if (has(twice, t.name)) shards[(at + 1) % size_t(of)].push_back(&t);
      map += (map.empty() ? "\"" : ", \"") + t.name + "\": \"" + shard_name(int(at) + 1, of) + "\"";
    }
    for (int n = 1; n <= of; ++n) write_file(dir.file(shard_name(n, of)), encode(shards[size_t(n - 1)]));
    if (index) write_file(dir.file("consolidated.safetensors.index.json"), "{\"weight_map\": {" + map + "}}");
  }

  static bool has(const std::vector<std::string>& names, const std::string& name) {
    for (const std::string& n : names) {
      if (n == name) return true;
    }
    return false;
  }
};

// Every position's logits for a fixed sequence, fed in one chunk.
static std::vector<float> logits_of(const std::string& dir) {
  auto model = Model::load(dir, LoadOptions{});
  const int vocab = model->config().vocab_size;
  std::vector<int> tokens;
  for (int t = 0; t < 24; ++t) tokens.push_back(1 + (t * 37) % (vocab - 1));
  std::vector<float> out(tokens.size() * size_t(vocab));
  model->new_session(SessionOptions{})->feed(tokens.data(), tokens.size(), out.data());
  return out;
}

static bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(consolidated_shards_give_the_single_files_logits) {
  const std::vector<float> single = logits_of(kFixture);
  CHECK(!single.empty());
  for (int of : {2, 3, 7}) {
    for (bool index : {false, true}) {
      TempDir dir;
      Split{of, index, {}, {}}.write(dir);
      auto model = Model::load(dir.path, LoadOptions{});
      CHECK(model->config().feed_forward == FeedForwardKind::MixtureOfExperts);
      CHECK_MSG(same_bits(logits_of(dir.path), single), "%d shards, index %d: logits differ", of, int(index));
    }
  }
}

TEST(the_split_really_spreads_the_experts) {
  // Guards the test above: with 3 shards, one layer's experts live in different files.
  TempDir dir;
  Split{3, false, {}, {}}.write(dir);
  std::map<std::string, int> shard_of;
  for (int n = 1; n <= 3; ++n) {
    SafetensorsFile shard(dir.file(shard_name(n, 3)));
    for (const TensorView& t : shard.tensors()) shard_of[t.name] = n;
  }
  CHECK(shard_of.at("layers.0.feed_forward.experts.0.w1.weight") !=
        shard_of.at("layers.0.feed_forward.experts.0.w2.weight"));
  CHECK(shard_of.count("layers.0.feed_forward.gate.weight") == 1);
}

TEST(bad_consolidated_shards_are_one_clear_error) {
  {  // a shard of the set is missing
    TempDir dir;
    Split{3, false, {}, {}}.write(dir);
    ::unlink(dir.file(shard_name(2, 3)).c_str());
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "lacks consolidated-00002-of-00003.safetensors");
  }
  {  // the same, with an index that lists it
    TempDir dir;
    Split{3, true, {}, {}}.write(dir);
    ::unlink(dir.file(shard_name(3, 3)).c_str());
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "consolidated-00003-of-00003.safetensors");
  }
  {  // a tensor in two shards
    TempDir dir;
    Split{2, false, {}, {"layers.1.feed_forward.experts.2.w3.weight"}}.write(dir);
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "layers.1.feed_forward.experts.2.w3.weight is in both",
                 "consolidated-00001-of-00002.safetensors", "consolidated-00002-of-00002.safetensors");
  }
  {  // a tensor in none
    TempDir dir;
    Split{2, false, {"layers.1.feed_forward.experts.3.w2.weight"}, {}}.write(dir);
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}),
                 "missing tensor layers.1.feed_forward.experts.3.w2.weight in the 2 consolidated shards");
  }
  {  // a tensor in none, with an index
    TempDir dir;
    Split{2, true, {"layers.0.attention.wq.weight"}, {}}.write(dir);
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}),
                 "missing tensor layers.0.attention.wq.weight in the shards of consolidated.safetensors.index.json");
  }
  {  // the single file beside shards
    TempDir dir;
    Split{2, false, {}, {}}.write(dir);
    write_file(dir.file("consolidated.safetensors"), read_file(kFixture + "/consolidated.safetensors"));
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "holds both consolidated.safetensors and its shards");
  }
  {  // the single file beside an index (its shards removed)
    TempDir dir;
    Split{2, true, {}, {}}.write(dir);
    ::unlink(dir.file(shard_name(1, 2)).c_str());
    ::unlink(dir.file(shard_name(2, 2)).c_str());
    write_file(dir.file("consolidated.safetensors"), read_file(kFixture + "/consolidated.safetensors"));
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "holds both consolidated.safetensors",
                 "consolidated.safetensors.index.json");
  }
  {  // two sets of shards
    TempDir dir;
    Split{2, false, {}, {}}.write(dir);
    write_file(dir.file(shard_name(1, 3)), read_file(dir.file(shard_name(1, 2))));
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "mixes consolidated shards of 2 and of 3 files");
  }
  {  // one shard spelled twice
    TempDir dir;
    Split{2, false, {}, {}}.write(dir);
    write_file(dir.file("consolidated-2-of-00002.safetensors"), read_file(dir.file(shard_name(2, 2))));
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "consolidated-2-of-00002.safetensors",
                 "consolidated-00002-of-00002.safetensors", "are the same shard");
  }
  {  // no weights at all
    TempDir dir;
    write_file(dir.file("params.json"), read_file(kFixture + "/params.json"));
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "no consolidated.safetensors");
  }
}

int main() { return harness::run_all(); }
