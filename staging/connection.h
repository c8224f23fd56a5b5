/* staging/connection.h - multiprocessing.connection for pyconc_process.h
   (Connection, Pipe, wait, Listener/Client). Included twice by
   pyconc_process.h: once among its declarations, once in its
   implementation (with PYCONC_PROCESS_IMPLEMENTATION defined). */
