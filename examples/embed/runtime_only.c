/*===- runtime_only.c - a runtime-only host: no MLIR, plain C -------------===*
 *
 * Loads a bundle file and prints its manifest: what a serving host that only
 * ships compiled bundles links (MoEMLIR::Runtime). Usage:
 *   embed-runtime-only model.bundle
 *
 *===----------------------------------------------------------------------===*/

#include <moert/moert.h>

#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s BUNDLE\n", argv[0]);
    return 2;
  }
  moert_bundle_t *bundle = NULL;
  moert_status_t status = moert_bundle_load_file(argv[1], &bundle);
  if (status) {
    fprintf(stderr, "error [%s]: %s\n",
            moert_status_code_string(moert_status_code(status)),
            moert_status_message(status));
    moert_status_free(status);
    return 1;
  }
  printf("target %s\n", moert_bundle_target(bundle));
  for (size_t f = 0; f < moert_bundle_function_count(bundle); ++f) {
    printf("function %s\n", moert_bundle_function_name(bundle, f));
    for (int input = 1; input >= 0; --input) {
      size_t count = input ? moert_bundle_input_count(bundle, f)
                           : moert_bundle_output_count(bundle, f);
      for (size_t i = 0; i < count; ++i) {
        moert_tensor_info_t info;
        status = input ? moert_bundle_input_info(bundle, f, i, &info)
                       : moert_bundle_output_info(bundle, f, i, &info);
        if (status) {
          moert_status_free(status);
          continue;
        }
        printf("  %s %s %s[", input ? "input " : "output", info.name,
               moert_dtype_name(info.dtype));
        for (size_t d = 0; d < info.rank; ++d)
          printf("%s%lld", d ? ", " : "", (long long)info.shape[d]);
        printf("]\n");
      }
    }
  }
  /* A session proves the kernels load here. */
  moert_session_t *session = NULL;
  status = moert_session_create(bundle, &session);
  if (status) {
    fprintf(stderr, "error [%s]: %s\n",
            moert_status_code_string(moert_status_code(status)),
            moert_status_message(status));
    moert_status_free(status);
    moert_bundle_release(bundle);
    return 1;
  }
  printf("kernels loaded\n");
  moert_session_release(session);
  moert_bundle_release(bundle);
  return 0;
}
