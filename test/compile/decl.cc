#include "decl.c"
