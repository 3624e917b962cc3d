//===- NcclTest.cpp - loading NCCL, without a GPU -------------------------===//
//
// ctest runs each NcclLoad test in a process of its own with
// MOERT_NCCL_LIBRARY set (the first load's outcome stands for the process).
// The tests discovered without the variable load the real library where it
// is installed and skip, saying why, where it (or a CUDA driver) is not.
//
//===----------------------------------------------------------------------===//

#include "Nccl.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <dlfcn.h>
#include <string>

namespace {

std::string loadError() {
  std::string error;
  const moert::nccl::NcclLibrary *library = moert::nccl::loadNccl(error);
  EXPECT_EQ(library, nullptr);
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(NcclLoad, MissingLibrary) {
  const char *name = std::getenv("MOERT_NCCL_LIBRARY");
  if (!name || std::string(name).find("no-such-libnccl") == std::string::npos)
    GTEST_SKIP() << "run by ctest with MOERT_NCCL_LIBRARY naming a missing "
                    "library (moert-nccl-missing-library)";
  std::string error = loadError();
  EXPECT_NE(error.find("NCCL library " + std::string(name) +
                       " could not be loaded"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("MOERT_NCCL_LIBRARY"), std::string::npos) << error;
}

TEST(NcclLoad, NotNccl) {
  const char *name = std::getenv("MOERT_NCCL_LIBRARY");
  if (!name || std::string(name) != "libm.so.6")
    GTEST_SKIP() << "run by ctest with MOERT_NCCL_LIBRARY=libm.so.6 "
                    "(moert-nccl-not-nccl)";
  std::string error = loadError();
  EXPECT_NE(error.find("NCCL library libm.so.6 lacks ncclGetVersion"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("is it NCCL"), std::string::npos) << error;
}

TEST(NcclLoad, RealLibrary) {
  if (const char *name = std::getenv("MOERT_NCCL_LIBRARY"); name && *name)
    GTEST_SKIP() << "MOERT_NCCL_LIBRARY is set";
  void *nccl = ::dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!nccl)
    GTEST_SKIP() << "NCCL (libnccl.so.2) is not installed here: nothing to "
                    "load (the multi-GPU run needs NCCL and GPUs)";
  void *driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!driver)
    GTEST_SKIP() << "no CUDA driver (libcuda.so.1) here";
  std::string error;
  const moert::nccl::NcclLibrary *library = moert::nccl::loadNccl(error);
  ASSERT_NE(library, nullptr) << error;
  EXPECT_GE(library->version, 21400);
}

} // namespace
