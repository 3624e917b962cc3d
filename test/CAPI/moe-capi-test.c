/*===- moe-capi-test.c - the moe C API from a plain C host ----------------===*
 *
 * A C host that uses only C headers: MLIR's C API plus moe/CAPI/Dialects.h
 * to parse and compile a moe.layer to a bundle in memory, then moert/moert.h
 * to load and run it. Checks the result against values computed here, and
 * that a failing compile reports through the diagnostic handler. Exit 0 on
 * success.
 *
 *===----------------------------------------------------------------------===*/

#include "moe/CAPI/Dialects.h"
#include "moert/moert.h"

#include "mlir-c/Diagnostics.h"
#include "mlir-c/IR.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One token, two experts, top-1, identity-sized weights: with a relu expert
 * (plain FFN, no gate) the layer is relu(x·up)·down scaled by the routing
 * weight, which is 1 after renormalising a single choice. */
static const char *kModule =
    "func.func @layer(%x: tensor<1x2xf32>, %router: tensor<2x2xf32>,\n"
    "                 %up: tensor<2x2x2xf32>, %down: tensor<2x2x2xf32>)\n"
    "    -> tensor<1x2xf32> {\n"
    "  %y = moe.layer %x router %router experts up %up down %down\n"
    "      routing <scoring = softmax, top_k = 1, renormalize = true>\n"
    "      activation relu layout out_in\n"
    "      : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2x2x2xf32>,\n"
    "         tensor<2x2x2xf32>) -> tensor<1x2xf32>\n"
    "  return %y : tensor<1x2xf32>\n"
    "}\n";

typedef struct Buffer {
  char *data;
  size_t size;
} Buffer;

static void collect(MlirStringRef bytes, void *userData) {
  Buffer *buffer = (Buffer *)userData;
  buffer->data = (char *)realloc(buffer->data, buffer->size + bytes.length);
  memcpy(buffer->data + buffer->size, bytes.data, bytes.length);
  buffer->size += bytes.length;
}

static int diagnostics = 0;
static void printToStderr(MlirStringRef text, void *userData) {
  (void)userData;
  fwrite(text.data, 1, text.length, stderr);
}
static MlirLogicalResult onDiagnostic(MlirDiagnostic diagnostic,
                                      void *userData) {
  (void)userData;
  ++diagnostics;
  fprintf(stderr, "diagnostic: ");
  mlirDiagnosticPrint(diagnostic, printToStderr, NULL);
  fprintf(stderr, "\n");
  return mlirLogicalResultSuccess();
}

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,       \
              #cond);                                                          \
      return 1;                                                                \
    }                                                                          \
  } while (0)

int main(void) {
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  mlirMoERegisterDialects(registry);
  MlirContext context = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  mlirContextAttachDiagnosticHandler(context, onDiagnostic, NULL, NULL);
  mlirMoERegisterPasses();

  MlirDialectHandle moe = mlirGetDialectHandle__moe__();
  MlirStringRef name = mlirDialectHandleGetNamespace(moe);
  CHECK(name.length == 3 && memcmp(name.data, "moe", 3) == 0);

  MlirModule module =
      mlirModuleCreateParse(context, mlirStringRefCreateFromCString(kModule));
  CHECK(!mlirModuleIsNull(module));
  Buffer bundle = {NULL, 0};
  CHECK(mlirLogicalResultIsSuccess(
      mlirMoECompileToBundle(module, collect, &bundle)));
  CHECK(bundle.size > MOERT_BUNDLE_HEADER_SIZE);
  CHECK(memcmp(bundle.data, MOERT_BUNDLE_MAGIC, MOERT_BUNDLE_MAGIC_SIZE) == 0);
  printf("bundle: %zu bytes\n", bundle.size);

  moert_bundle_t *loaded = NULL;
  moert_status_t status =
      moert_bundle_load_memory(bundle.data, bundle.size, &loaded);
  free(bundle.data);
  if (status) {
    fprintf(stderr, "%s\n", moert_status_message(status));
    return 1;
  }
  size_t function = 0;
  CHECK(moert_bundle_find_function(loaded, "layer", &function) == NULL);
  moert_session_t *session = NULL;
  status = moert_session_create(loaded, &session);
  if (status) {
    fprintf(stderr, "%s\n", moert_status_message(status));
    return 1;
  }
  moert_bundle_release(loaded);

  /* Router logits x·router^T = (2, -1): expert 0 wins. Expert 0: up = I,
   * down = 2·I -> y = 2·relu(x). Expert 1 would give zeros. */
  float x[2] = {2.0f, -1.0f};
  float router[4] = {1, 0, 0, 1};
  float up[8] = {1, 0, 0, 1, 0, 0, 0, 0};
  float down[8] = {2, 0, 0, 2, 0, 0, 0, 0};
  float y[2] = {-7, -7};
  int64_t sx[] = {1, 2}, sr[] = {2, 2}, sw[] = {2, 2, 2};
  moert_tensor_view_t inputs[4] = {
      {MOERT_DTYPE_F32, 2, sx, x, sizeof(x)},
      {MOERT_DTYPE_F32, 2, sr, router, sizeof(router)},
      {MOERT_DTYPE_F32, 3, sw, up, sizeof(up)},
      {MOERT_DTYPE_F32, 3, sw, down, sizeof(down)}};
  moert_tensor_view_t output = {MOERT_DTYPE_F32, 2, sx, y, sizeof(y)};
  status = moert_session_run(session, function, inputs, 4, &output, 1);
  if (status) {
    fprintf(stderr, "%s\n", moert_status_message(status));
    return 1;
  }
  printf("y = [%g, %g]\n", y[0], y[1]);
  CHECK(fabsf(y[0] - 4.0f) < 1e-6f && fabsf(y[1]) < 1e-6f);
  moert_session_release(session);

  /* A module with nothing to put in a bundle fails with a diagnostic. */
  MlirModule empty = mlirModuleCreateEmpty(mlirLocationUnknownGet(context));
  Buffer none = {NULL, 0};
  CHECK(mlirLogicalResultIsFailure(
      mlirMoECompileToBundle(empty, collect, &none)));
  CHECK(none.size == 0 && diagnostics == 1);
  mlirModuleDestroy(empty);

  mlirModuleDestroy(module);
  mlirContextDestroy(context);
  printf("moe C API: OK\n");
  return 0;
}
