// tour: Process(target=f, args=('bob',)): a child process says hello bob
/* The docs' first Process: run f('bob') in a child process.

       from multiprocessing import Process
       def f(name):
           print('hello', name)
       if __name__ == '__main__':
           p = Process(target=f, args=('bob',))
           p.start()
           p.join()
*/
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"
#include <stdio.h>

static int f(void *arg) {
    const char *name = "?";
    if (pc_args_get_str((pc_args *)arg, 0, &name) != PC_OK) return 1;
    printf("hello %s\n", name);
    return 0;
}

int main(void) {
    pc_args *args = pc_args_new();
    pc_args_add_str(args, "bob");
    pc_process_desc desc = {0};
    desc.target = f;
    desc.args = args;
    pc_process *p = pc_process_new(&desc);
    pc_args_free(args);                 // the process keeps its own copy
    if (!p || pc_process_start(p) != PC_OK) {
        fprintf(stderr, "start failed: %s\n", pc_last_error());
        return 1;
    }
    pc_process_join(p, PC_FOREVER);
    int code = pc_process_exitcode(p);
    pc_process_free(p);
    return code;
}
