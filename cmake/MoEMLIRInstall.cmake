# `cmake --install`: headers, libraries, tools, and the CMake package
# `find_package(MoEMLIR CONFIG)` (docs/embedding.md). Two export sets:
#   MoEMLIRRuntimeTargets   MoEMLIR::Runtime (libmoert.so), MoEMLIR::RuntimeStatic
#                           -- plain C API, no MLIR or LLVM needed by consumers
#   MoEMLIRCompilerTargets  MoEMLIR::Compiler (the C++ API, links every compiler
#                           library and the shared libMLIR), MoEMLIR::CAPI, and
#                           the per-library targets MoEMLIR::MoEDialect, ...
# Included from the top-level CMakeLists.txt after every target exists.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MOE_MLIR_VERSION 0.1.0)
set(MOE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/MoEMLIR)

# Installed executables find libmoert next to them and libMLIR/libLLVM where
# they were linked from.
set(moe_installed_tools moe-run)
if(MOE_ENABLE_COMPILER)
  list(APPEND moe_installed_tools moe-opt moe-translate)
endif()
set_target_properties(${moe_installed_tools} PROPERTIES
  INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}"
  INSTALL_RPATH_USE_LINK_PATH ON)
install(TARGETS ${moe_installed_tools} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(MOE_ENABLE_COMPILER)
  install(PROGRAMS ${PROJECT_SOURCE_DIR}/tools/moe-bench/moe-bench.py
          DESTINATION ${CMAKE_INSTALL_BINDIR} RENAME moe-bench)
endif()

# Runtime: one C header directory and libmoert.
set_target_properties(moert PROPERTIES EXPORT_NAME Runtime)
set_target_properties(moert_static PROPERTIES EXPORT_NAME RuntimeStatic)
install(TARGETS moert moert_static EXPORT MoEMLIRRuntimeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/moert
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(EXPORT MoEMLIRRuntimeTargets NAMESPACE MoEMLIR::
  DESTINATION ${MOE_INSTALL_CMAKEDIR})
# The runtime's Python bindings (ctypes over moert.h; PYTHONPATH=PREFIX/lib/python).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/moert
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/python FILES_MATCHING PATTERN "*.py")

# Compiler: headers from both include roots (dialects/ and include/), the
# generated .inc files, the TableGen sources, and the libraries.
if(MOE_ENABLE_COMPILER)
  set(moe_compiler_libraries
    MoEDialect MoEFlowDialect MoEFlowTransforms MoETransforms MoEToLinalg MoEToGPU MoEFlowToRuntime MoEPipelines
    MoETargetBundle MoETargetHFImport MoETargetRoundTrip
    MoECompiler MoECAPI)
  set_target_properties(MoECompiler PROPERTIES EXPORT_NAME Compiler)
  set_target_properties(MoECAPI PROPERTIES EXPORT_NAME CAPI)
  install(TARGETS ${moe_compiler_libraries} EXPORT MoEMLIRCompilerTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  foreach(root ${PROJECT_SOURCE_DIR}/include/moe ${PROJECT_SOURCE_DIR}/dialects/moe
               ${PROJECT_SOURCE_DIR}/dialects/moeflow)
    install(DIRECTORY ${root} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
      FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
  endforeach()
  foreach(root ${PROJECT_BINARY_DIR}/include/moe ${PROJECT_BINARY_DIR}/dialects/moe
               ${PROJECT_BINARY_DIR}/dialects/moeflow)
    install(DIRECTORY ${root} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
      FILES_MATCHING PATTERN "*.inc" PATTERN "CMakeFiles" EXCLUDE)
  endforeach()
  install(EXPORT MoEMLIRCompilerTargets NAMESPACE MoEMLIR::
    DESTINATION ${MOE_INSTALL_CMAKEDIR})
endif()

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/MoEMLIRConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/MoEMLIRConfig.cmake
  INSTALL_DESTINATION ${MOE_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/MoEMLIRConfigVersion.cmake
  VERSION ${MOE_MLIR_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/MoEMLIRConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/MoEMLIRConfigVersion.cmake
  DESTINATION ${MOE_INSTALL_CMAKEDIR})
