#!/bin/sh
# Run process_29's server and client as two terminals would: a fresh key
# file (mode 600), the server in the background, the client, then the
# server stopped (SIGTERM, where a terminal would send Ctrl-C's SIGINT: a
# script's background job ignores SIGINT).
# Usage: remote_pair.sh SERVER CLIENT WORKDIR
server=$1 client=$2 dir=$3
port=$((20000 + $$ % 30000))
key="$dir/process_30_manager.key"
umask 077
head -c 32 /dev/urandom > "$key" || exit 1
"$server" "$key" "$port" &
pid=$!
"$client" "$key" "$port"
rc=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -f "$key"
exit $rc
