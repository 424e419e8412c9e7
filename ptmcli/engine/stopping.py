"""Stop training cleanly on Ctrl-C or SIGTERM: finish the step, save a checkpoint, then exit.

Under DDP every rank has to stop after the same step, because a rank that runs one more step
waits forever in that step's all-reduce. The ranks therefore agree on the decision at the end of
each step, so a signal that reaches only one of them (or reaches them a step apart) still stops
all of them together.
"""

import logging
import signal
import threading
from contextlib import contextmanager

from ptmcli.errors import PtmError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")


class Interrupted(PtmError):
    """Training stopped on Ctrl-C or SIGTERM after saving a checkpoint."""

    exit_code = 130


class StopOnSignal:
    """Turn the first Ctrl-C or SIGTERM into 'save a checkpoint and stop' at the end of the current step."""

    def __init__(self):
        self.signal_name: str | None = None
        self.stopped_by_peer = False  # another rank received the signal and this one follows it

    def _handle(self, number, frame):
        if self.signal_name is not None:
            # A second signal means the user does not want to wait for the checkpoint. torchrun
            # starts its workers in their own sessions, so a terminal's Ctrl-C reaches a worker
            # once, forwarded by the launcher, and does not count twice.
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(number).name
        log.warning(_("{signal} received: saving a checkpoint after this step").format(signal=self.signal_name))

    @contextmanager
    def installed(self):
        """Install the handlers for SIGINT and SIGTERM, and restore the previous ones afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {number: signal.signal(number, self._handle) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def agreed_stop(self, device) -> bool:
        """Return whether any rank received a signal, as one decision that every rank shares."""
        import torch.distributed as distributed

        stop = self.signal_name is not None
        if distributed.is_available() and distributed.is_initialized() and distributed.get_world_size() > 1:
            import torch

            flag = torch.tensor([int(stop)], device=device)
            distributed.all_reduce(flag, op=distributed.ReduceOp.MAX)
            agreed = bool(flag.item())
            self.stopped_by_peer = agreed and not stop
            stop = agreed
        return stop

    def callback(self):
        """Build the Trainer callback that requests a checkpoint and a stop once the ranks agree."""
        from transformers import TrainerCallback

        owner = self

        class SaveAndStop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if owner.agreed_stop(args.device):
                    control.should_save = True
                    control.should_training_stop = True

        return SaveAndStop()

    @property
    def stopped(self) -> bool:
        return self.signal_name is not None or self.stopped_by_peer
