/* Python's "hello bob" Process, started with the method named by argv[1]
   (fork, spawn, forkserver): the static-binary consumer test runs it under
   each. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>
#include <string.h>
static int f(void *arg) {
    const char *name = "?";
    if (pc_args_get_str((pc_args *)arg, 0, &name) != PC_OK) return 1;
    printf("hello %s\n", name);
    return 0;
}
int main(int argc, char **argv) {
    pc_start_method m = PC_START_DEFAULT;
    if (argc > 1 && pc_start_method_from_name(argv[1], &m) != PC_OK) return 2;
    pc_args *args = pc_args_new();
    pc_args_add_str(args, "bob");
    pc_process_desc desc = {0};
    desc.target = f;
    desc.args = args;
    desc.context = pc_get_context(m);
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);
    if (!p || pc_process_start(p) != PC_OK) {
        fprintf(stderr, "start failed: %s\n", pc_last_error());
        return 1;
    }
    pc_process_join(p, PC_FOREVER);
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}
