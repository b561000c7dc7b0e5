"""Which process of a group went silent: a heartbeat and a failure flag per process in a
TCPStore beside the process group's, read when a collective operation fails or times out."""
import os
import threading
import time
from datetime import timedelta
from typing import List, Optional

import torch.distributed as dist

BEAT_SECONDS = 1.0


class ProcessBoard:
    """Every process of the group increments its own heartbeat counter once a second (a
    thread, so a main thread blocked in a collective or stuck elsewhere still beats; a killed
    or exited process stops). A process whose collective failed marks itself; the processes
    that neither marked themselves nor stopped beating are the silent ones. Counters, not
    clocks: machines need not agree on the time.

    The store is a client of the one at MASTER_ADDR:MASTER_PORT (rank 0's process when
    spawned, torchrun's agent under torchrun). Keys live under the elastic restart count, so
    a restarted group never reads its predecessor's."""

    def __init__(self, rank: int, world_size: int, timeout_s: float = 10.0):
        self.rank, self.world_size = rank, world_size
        self.prefix = f"ebm_board/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
        self.store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), is_master=False,
                                   timeout=timedelta(seconds=timeout_s))
        self.beats = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name='process-board-heartbeat', daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        while not self.stopped.is_set():
            try:
                self.beats += 1
                self.store.set(f"{self.prefix}/beat/{self.rank}", str(self.beats))
            except Exception:  # the store's host is gone; the failure report says so
                return
            self.stopped.wait(BEAT_SECONDS)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2 * BEAT_SECONDS)

    def _read(self, kind: str, rank: int) -> Optional[str]:
        key = f"{self.prefix}/{kind}/{rank}"
        return self.store.get(key).decode() if self.store.check([key]) else None

    def describe_failure(self) -> Optional[List[str]]:
        """Mark this process as one that saw the failure, watch the others' heartbeats for
        three beats and return one line per other process that is at fault (stopped beating:
        exited or killed; beating but not marked: alive and not answering). None when the
        store cannot be reached (its host, rank 0's process when spawned, is gone), or when
        this is not the lowest-ranked live process that saw the failure (that one reports;
        the others stay quiet, so that each fault is named once)."""
        try:
            self.store.set(f"{self.prefix}/failed/{self.rank}", '1')
            others = [rank for rank in range(self.world_size) if rank != self.rank]
            before = {rank: self._read('beat', rank) for rank in others}
            time.sleep(3 * BEAT_SECONDS)
            after = {rank: self._read('beat', rank) for rank in others}
            failed = {rank for rank in others if self._read('failed', rank)}
        except Exception:
            return None
        live_reporters = [rank for rank in failed if after[rank] != before[rank]]
        if any(rank < self.rank for rank in live_reporters):
            return []
        lines = []
        for rank in others:
            if after[rank] is None or after[rank] == before[rank]:
                lines.append(f"rank {rank} stopped (its heartbeat stopped: the process exited or was killed)")
            elif rank not in failed:
                lines.append(f"rank {rank} is alive but did not answer (it hangs, or is busy outside the "
                             f"collective operations for longer than collective_timeout)")
        return lines
