"""With --jobs above 1 Luigi forks a process per stage while the progress watcher thread draws
(rich imports modules lazily as it draws). A fork taken in the middle of an import leaves that
module's import lock held in the child, which hung the npu_core flow at its first stage. The flow
makes a fork wait until the drawing is done."""

import os
import threading
import time

from kchip.flows import runner


def test_a_fork_waits_until_the_progress_drawing_is_done():
    events = []
    drawing = threading.Event()

    def draw():
        with runner._DRAWING:
            events.append("drawing")
            drawing.set()
            time.sleep(0.3)
            events.append("drawn")

    watcher = threading.Thread(target=draw)
    watcher.start()
    drawing.wait(5)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    events.append("forked")
    os.waitpid(pid, 0)
    watcher.join()
    assert events == ["drawing", "drawn", "forked"]


def test_the_forked_child_can_draw_and_fork_again():
    """The child gets the lock released: it can take it (and fork its own children) itself."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = runner._DRAWING.acquire(timeout=2)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
