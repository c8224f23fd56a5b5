"""Python's side of test_shared_memory's interop cases.

usage: shared_memory_peer.py attach NAME TEXT   attach the block NAME (made by
           C), check it starts with TEXT and its size, write "python:" + TEXT
           back at offset 0, close it; print "ok SIZE"
       shared_memory_peer.py create SIZE TEXT   create a block of SIZE bytes
           starting with TEXT, print its name, wait for a line on stdin, check
           the block now starts with that line, close and unlink it; print "ok"

Neither leaves the resource tracker a block to warn about: an attached block
is not tracked (track=False, or unregistered before 3.13), a created one is
unlinked. Exit 0 on success, 3 on a mismatch (with the reason on stdout)."""
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory


def attach_untracked(name):
    try:
        return SharedMemory(name, track=False)
    except TypeError:   # before 3.13: attaching registers the block
        shm = SharedMemory(name)
        resource_tracker.unregister(shm._name, "shared_memory")
        return shm


def fail(why):
    print("mismatch: " + why, flush=True)
    sys.exit(3)


def attach(name, text):
    shm = attach_untracked(name)
    want = text.encode()
    got = bytes(shm.buf[:len(want)])
    if got != want:
        fail("read %r, want %r" % (got, want))
    reply = b"python:" + want
    shm.buf[:len(reply)] = reply
    size = shm.size
    shm.close()
    print("ok %d" % size, flush=True)


def create(size, text):
    shm = SharedMemory(create=True, size=size)
    data = text.encode()
    shm.buf[:len(data)] = data
    print(shm.name, flush=True)
    line = sys.stdin.readline().rstrip("\n").encode()
    got = bytes(shm.buf[:len(line)])
    shm.close()
    shm.unlink()
    if not line or got != line:
        fail("read %r, want %r" % (got, line))
    print("ok", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "attach":
        attach(sys.argv[2], sys.argv[3])
    else:
        create(int(sys.argv[2]), sys.argv[3])
