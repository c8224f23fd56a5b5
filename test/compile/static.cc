#include "static.c"
