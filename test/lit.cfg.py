# -*- Python -*-
# lit configuration of the MoE-MLIR test suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MoE-MLIR"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")
# unit/ holds GoogleTest sources run by ctest, not lit inputs.
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "Inputs"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%moe_src_root", config.moe_src_root))
config.substitutions.append(("%moe_obj_root", config.moe_obj_root))
config.substitutions.append(("%llvm_lib_dir", config.llvm_lib_dir))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.moe_tools_dir, config.llvm_tools_dir]
tools = ["moe-opt", "moe-translate", "mlir-runner", "moe-run"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The CUDA pipeline serializes kernels with the CUDA toolkit's ptxas (found by
# MLIR under $CUDA_HOME or /usr/local/cuda); tests of whole bundles need it.
import shutil
cuda_root = os.environ.get("CUDA_HOME", "/usr/local/cuda")
if shutil.which("ptxas") or os.path.exists(os.path.join(cuda_root, "bin", "ptxas")):
    config.available_features.add("ptxas")

# The CUDA runtime backend (MOE_ENABLE_CUDA) and, where its tests were built, the
# host CUDA driver and test bundle pieces of runtime/src/cuda, which run CUDA
# bundles without a GPU (test/Runtime/cuda-*.test).
if config.moe_enable_cuda.upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("cuda-backend")
    cuda_dir = os.path.join(config.moe_obj_root, "runtime", "src", "cuda")
    fake_driver = os.path.join(cuda_dir, "libmoert-fake-cuda.so")
    test_host = os.path.join(cuda_dir, "libmoert-test-cuda-host.so")
    if os.path.exists(fake_driver) and os.path.exists(test_host):
        config.available_features.add("cuda-fake-driver")
        config.substitutions.append(("%fake_cuda_driver", fake_driver))
        config.substitutions.append(("%cuda_test_host", test_host))
        config.substitutions.append(
            ("%cuda_test_bundle", os.path.join(config.moe_src_root, "runtime",
                                               "src", "cuda", "TestBundle")))

# Multi-rank runs (test/e2e/multi-rank): moe-run built with the MPI backend
# (MOE_ENABLE_MPI) and the mpirun CMake found; %mpirun starts N ranks on a
# small CI machine (oversubscribed, shared memory and TCP only).
def _cmake_cache(name):
    try:
        with open(os.path.join(config.moe_obj_root, "CMakeCache.txt")) as cache:
            for line in cache:
                if line.startswith(name + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""

_mpiexec = _cmake_cache("MPIEXEC_EXECUTABLE")
if (_cmake_cache("MOE_ENABLE_MPI").upper() in ("ON", "1", "TRUE", "YES")
        and _mpiexec and os.path.exists(_mpiexec)):
    config.available_features.add("mpi")
    config.substitutions.append(
        ("%mpirun", _mpiexec + " --allow-run-as-root --oversubscribe"
         " --mca btl self,vader,tcp"))
