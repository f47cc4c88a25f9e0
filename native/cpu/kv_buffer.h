// The CPU backend's keys and values (keys after RoPE), laid out for the tiled attention
// to read in place (attention_tiled.h): per layer and key/value head, slots in blocks of
// 16, keys transposed within a block ([head_dim][16]: the 16 keys' element d side by
// side), values as rows ([16][hd16], head_dim rounded up to 16, zero-padded). Position p
// lives in slot p mod C (kv_cache.h), so block ⌊(p mod C) / 16⌋, lane p mod 16. C is the
// capacity asked for rounded up to 16, so that lanes follow positions: the slots past
// the asked capacity only hold more positions than the session relies on.
//
// Which positions are held is the session's business; this only stores, in one of two
// element types:
//   F32: exact, as the reference and the logits tests need.
//   F16: half the memory and half the bytes attention reads per key (the CUDA cache's
//        type too); values are rounded to nearest even on the way in (bench/
//        results-cpu.md has what it does to speed and to the logits).
// The rounding is this class's rule: round_to_storage() applies it to a chunk's own
// keys and values, so that a query reads them as it will read them from the cache later
// and gets the same bits whatever the chunking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "tramontane/engine.h"

namespace tramontane::cpu {

const char* kv_cache_type_name(KvCacheType type);  // "f32", "f16", "auto"

class KvBuffer {
 public:
  static constexpr int kBlock = 16;  // slots per block

  // type: F32 or F16. Throws a one-line Error when memory is short.
  KvBuffer(int n_layers, int n_kv_heads, int head_dim, int capacity, KvCacheType type = KvCacheType::F32);

  int capacity() const { return capacity_; }  // C: at least the capacity asked for
  KvCacheType type() const { return type_; }
  int head_dim16() const { return hd16_; }

  // Stores the keys and values ([n_kv_heads * head_dim] each) of one layer at one position.
  void write(int layer, int64_t pos, const float* k, const float* v);

  // count keys or values of one layer at one position, from index `first` of
  // [n_kv_heads * head_dim], as fp32.
  void read_key(int layer, int64_t pos, int first, int count, float* dst) const;
  void read_value(int layer, int64_t pos, int first, int count, float* dst) const;

  // Rounds n values in place as storing them would (nothing to do for F32).
  void round_to_storage(float* x, size_t n) const;

  // The block holding position pos (a multiple of 16) for key/value head g, in type():
  // keys [head_dim][16], values [16][head_dim16()].
  const void* key_block(int layer, int g, int64_t pos) const {
    return keys_.get() + block_offset(layer, g, pos) * element_bytes();
  }
  const void* value_block(int layer, int g, int64_t pos) const {
    return values_.get() + block_offset(layer, g, pos) * element_bytes();
  }

 private:
  size_t element_bytes() const { return type_ == KvCacheType::F32 ? 4 : 2; }
  // Elements before the block of (layer, g, pos); a block holds 16 · hd16 elements
  // (keys use the first 16 · head_dim).
  size_t block_offset(int layer, int g, int64_t pos) const {
    const size_t block = size_t(pos % capacity_) / kBlock;
    return ((size_t(layer) * n_kv_heads_ + size_t(g)) * size_t(capacity_ / kBlock) + block) *
           kBlock * size_t(hd16_);
  }
  void store(uint8_t* at, const float* src, int count, int stride) const;
  void load(const uint8_t* at, float* dst, int count, int stride) const;

  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };

  int n_kv_heads_, head_dim_, hd16_, capacity_;
  KvCacheType type_;
  // calloc'd: pages are committed only once written, so a large context costs memory
  // only as it fills.
  std::unique_ptr<uint8_t[], Free> keys_, values_;
};

}  // namespace tramontane::cpu
