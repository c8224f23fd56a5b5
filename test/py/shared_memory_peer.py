"""Python's side of test_shared_memory's interop cases.

usage: shared_memory_peer.py attach NAME TEXT   attach the block NAME (made by
           C), check it starts with TEXT and its size, write "python:" + TEXT
           back at offset 0, close it; print "ok SIZE"
       shared_memory_peer.py create SIZE TEXT   create a block of SIZE bytes
           starting with TEXT, print its name, wait for a line on stdin, check
           the block now starts with that line, close and unlink it; print "ok"
       shared_memory_peer.py sl_attach NAME   attach the ShareableList NAME
           (made by C), print ascii(list(sl)) and sl.format, store the
           values of SL_STORE by Python's rules, print both again, close it
       shared_memory_peer.py sl_create        create the list SL_MADE, print
           its name, wait for a line on stdin, print ascii(list(sl)) and
           sl.format, close and unlink it; print "ok"

Neither leaves the resource tracker a block to warn about: an attached block
is not tracked (track=False, or unregistered before 3.13), a created one is
unlinked. Exit 0 on success, 3 on a mismatch (with the reason on stdout)."""
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory, ShareableList

# Values stored into a list of 8 items: another kind in each slot.
SL_STORE = [43, "py", None, b"B", 3.25, False, "x" * 8, "sixteen chars!!!"]
SL_MADE = [7, 1.5, False, "text", b"raw\x00", None, "a wider slot, 24"]


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


def sl_show(sl):
    print(ascii(list(sl)), flush=True)
    print(sl.format, flush=True)


def sl_attach(name):
    sl = ShareableList(name=name)
    # ShareableList(name=) always tracks what it attaches: untrack it.
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    sl_show(sl)
    for i, v in enumerate(SL_STORE):
        sl[i] = v
    sl_show(sl)
    sl.shm.close()


def sl_create():
    sl = ShareableList(SL_MADE)
    print(sl.shm.name, flush=True)
    sys.stdin.readline()
    sl_show(sl)
    sl.shm.close()
    sl.shm.unlink()
    print("ok", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "attach":
        attach(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "sl_attach":
        sl_attach(sys.argv[2])
    elif sys.argv[1] == "sl_create":
        sl_create()
    else:
        create(int(sys.argv[2]), sys.argv[3])
