//===- NoLLVMAllocatorPoisoning.h - ASan with a prebuilt libMLIR -*- C++ -*-===//
//
// Force-included (-include) into the instrumented code that shares LLVM
// allocators with the uninstrumented, prebuilt libMLIR.so.
//
// Under ASan, llvm/Support/Allocator.h poisons each new BumpPtrAllocator slab
// and unpoisons every allocation carved from it. MLIR's uniquers share one
// allocator between our code (instrumented, inlined from the headers) and
// libMLIR.so (not instrumented): a slab that our code started stays poisoned
// where libMLIR.so allocates from it, and ASan then reports libMLIR.so's own
// writes there as use-after-poison. Turning the poisoning calls of the LLVM
// headers into no-ops removes these false reports; ASan still checks every
// heap allocation, only not inside slabs.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_FUZZ_NOLLVMALLOCATORPOISONING_H
#define MOE_FUZZ_NOLLVMALLOCATORPOISONING_H

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
// Declare the functions first (llvm/Support/Compiler.h includes this header
// too; its include guard keeps the macros below from renaming them).
#include <sanitizer/asan_interface.h>
#define __asan_poison_memory_region(addr, size) ((void)(addr), (void)(size))
#define __asan_unpoison_memory_region(addr, size) ((void)(addr), (void)(size))
#endif
#endif

#endif // MOE_FUZZ_NOLLVMALLOCATORPOISONING_H
