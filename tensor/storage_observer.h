// A test hook: a function called with a Storage's address and size when it allocates (allocated =
// true) and when it frees, on every device; nullptr (the default) for none. Tests record a training
// step's allocation pattern with it (tests/tensor/test_block_allocator.cpp). Set it only while no other
// thread makes tensors.
#pragma once

#include <cstddef>

namespace tg::detail {

using StorageObserver = void (*)(const void* storage, size_t bytes, bool allocated);
void set_storage_observer(StorageObserver observer);

}  // namespace tg::detail
