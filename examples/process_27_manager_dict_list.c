// tour: multiprocessing.Manager: a dict and a list in a server process, changed by a child
/* The docs' Manager program, in C.

       def f(d, l):
           d[1] = '1'
           d['2'] = 2
           d[0.25] = None
           l.reverse()

       with Manager() as manager:
           d = manager.dict()
           l = manager.list(range(10))
           p = Process(target=f, args=(d, l))
           p.start()
           p.join()
           print(d)
           print(l)

   A manager's dict has string keys here: the keys 1 and 0.25 become their
   str(), "1" and "0.25". The proxies cross to the child in its argument
   pack and connect to the server by themselves, under any start method. */
#define PYCONC_ALL_IMPLEMENTATION
#include "pyconc_process.h"

#include <inttypes.h>
#include <stdio.h>

static int f(void *arg) {
    pc_args *args = (pc_args *)arg;
    pc_proxy *d, *l;
    if (pc_proxy_from_args(args, 0, &d) || pc_proxy_from_args(args, 1, &l)) return 1;
    int rc = pc_proxy_dict_set(d, "1", pc_proxy_str("1")) ||
             pc_proxy_dict_set(d, "2", pc_proxy_int(2)) ||
             pc_proxy_dict_set(d, "0.25", pc_proxy_none()) || pc_proxy_list_reverse(l);
    pc_proxy_free(d);
    pc_proxy_free(l);
    return rc;
}

static void print_value(const pc_proxy_value *v) {
    switch (v->type) {
    case PC_ARG_INT: printf("%" PRId64, v->i); break;
    case PC_ARG_DOUBLE: printf("%g", v->d); break;
    case PC_ARG_STR: printf("'%s'", (const char *)v->data); break;
    case PC_ARG_BYTES: printf("b'%.*s'", (int)v->size, (const char *)v->data); break;
    default: printf("None"); break;
    }
}

static int print_dict(pc_proxy *d) {
    pc_args *keys;
    if (pc_proxy_dict_keys(d, &keys)) return 1;
    printf("{");
    for (size_t i = 0; i < pc_args_len(keys); i++) {
        const char *k;
        pc_proxy_value v;
        pc_args_get_str(keys, i, &k);
        if (pc_proxy_dict_get(d, k, NULL, &v)) break;
        printf("%s'%s': ", i ? ", " : "", k);
        print_value(&v);
        pc_proxy_value_free(&v);
    }
    printf("}\n");
    pc_args_free(keys);
    return 0;
}

static int print_list(pc_proxy *l) {
    size_t n;
    if (pc_proxy_len(l, &n)) return 1;
    printf("[");
    for (size_t i = 0; i < n; i++) {
        pc_proxy_value v;
        if (pc_proxy_list_get(l, (int64_t)i, &v)) return 1;
        printf("%s", i ? ", " : "");
        print_value(&v);
        pc_proxy_value_free(&v);
    }
    printf("]\n");
    return 0;
}

int main(void) {
    pc_manager *manager = pc_manager_new(NULL);
    pc_proxy *d, *l;
    if (!manager || pc_manager_dict(manager, &d) || pc_manager_list(manager, &l)) {
        fprintf(stderr, "manager: %s\n", pc_last_error());
        return 1;
    }
    for (int i = 0; i < 10; i++) pc_proxy_list_append(l, pc_proxy_int(i));   // range(10)

    pc_args *args = pc_args_new();
    pc_proxy_add_to_args(args, d);
    pc_proxy_add_to_args(args, l);
    pc_process *p = pc_process_new(&(pc_process_desc){.target = f, .args = args});
    pc_args_free(args);
    if (!p || pc_process_start(p) || pc_process_join(p, PC_FOREVER)) {
        fprintf(stderr, "process: %s\n", pc_last_error());
        return 1;
    }
    pc_process_free(p);

    int rc = print_dict(d) || print_list(l);
    pc_proxy_free(d);
    pc_proxy_free(l);
    pc_manager_free(manager);      // leaving Python's `with Manager()` block
    return rc;
}
