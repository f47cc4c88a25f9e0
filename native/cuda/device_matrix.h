// A weight matrix on the device, as the kernels read it: f16 rows, or the plane form of
// a block-quantized format (engine/weight_planes.h; weight_formats.cuh reads both).
#pragma once

#include <cstdint>

#include "common.cuh"
#include "tensor.h"
#include "weight_planes.h"

namespace tramontane::cuda {

struct DeviceMatrix {
  StoredType type = StoredType::F16;  // F16, or a type with a plane form
  int rows = 0;
  int cols = 0;
  f16* data = nullptr;         // F16: [rows][cols]
  uint8_t* codes = nullptr;    // plane form
  uint8_t* high = nullptr;
  uint16_t* scales = nullptr;
  bool quantized() const { return type != StoredType::F16; }
  size_t bytes() const {
    if (!quantized()) return size_t(rows) * size_t(cols) * 2;
    const PlaneRowBytes rb = plane_row_bytes(plane_format(type), cols);
    return size_t(rows) * (rb.codes + rb.high + rb.scales);
  }
};

// A matrix kept as consecutive row ranges, each in its own format: the fused q/k/v
// matrix, whose parts a quantized file may store in different types (Q4_K_M keeps some
// layers' v in Q6_K). Parts of one format are one range.
struct RowParts {
  DeviceMatrix part[3];
  int first_row[3] = {0, 0, 0};
  int count = 0;
  int rows() const { return count ? first_row[count - 1] + part[count - 1].rows : 0; }
  size_t bytes() const {
    size_t b = 0;
    for (int p = 0; p < count; ++p) b += part[p].bytes();
    return b;
  }
};

}  // namespace tramontane::cuda
