"""A database's move as one stream: `pg_dump` in the source's pod piped into psql in the target's, relayed by this
process, which watches for the dump's closing COMMIT (tools/ops/application_data.py writes both ends). A stream that
breaks off never sends it, and psql's end of input then rolls the restore back; a stream that arrives whole is
confirmed by psql itself (RESTORED). Every transfer is bounded in time."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from tools.ops.operations import OperationError


def run_to(out: IO[bytes], args: Sequence[str], timeout: float) -> int:
    """Run `args` with its output into `out`, within `timeout` seconds."""
    with tempfile.TemporaryFile() as errors:
        try:
            done = subprocess.run(args, stdout=out, stderr=errors, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise OperationError(f"{shlex.join(args[:3])}...: no end within {timeout:.0f} s") from err
        return done.returncode


COMMIT = b"COMMIT;\n"


RESTORED = "kubeport: committed"


RESTORED_CHECK = (
    "\\o\nSELECT CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN 'kubeport: committed' "
    "ELSE 'kubeport: still open' END;\n"
)
"""psql's last input after a dump: `kubeport: committed` once the dump's COMMIT ran (no transaction is open)."""


CHUNK = 1 << 20


@dataclass
class Relay:
    """What went through the pipe from the dump to the restore."""

    sent: int = 0
    tail: bytes = b""
    broken: bool = False
    """The restore stopped reading (it ended, or failed) before the dump's end."""

    def carry(self, source: IO[bytes], target: IO[bytes]) -> None:
        """Copy until the dump ends or the restore stops reading; then close the restore's input (its end of input
        is what it rolls back on, when no COMMIT came)."""
        try:
            while chunk := source.read1(CHUNK) if hasattr(source, "read1") else source.read(CHUNK):
                target.write(chunk)
                self.sent += len(chunk)
                self.tail = (self.tail + chunk)[-len(COMMIT) :]
        except (BrokenPipeError, ConnectionResetError):
            self.broken = True
        finally:
            with contextlib.suppress(BrokenPipeError, OSError):
                target.close()


def pipe(source: Sequence[str], target: Sequence[str], *, what: str, timeout: float) -> str:
    """`source | target`, each a kubectl exec, through a relay that counts what passes and sees whether it ended with
    the dump's COMMIT: a stream that did not is refused by name, even when both ends said they succeeded (the restore
    then rolled back). A failed restore stops the dump at once; both are bounded by `timeout`.
    Returns what the restore printed."""
    relay = Relay()
    with (
        tempfile.TemporaryFile() as dump_err,
        tempfile.TemporaryFile() as restore_out,
        tempfile.TemporaryFile() as restore_err,
    ):
        dump = subprocess.Popen(source, stdout=subprocess.PIPE, stderr=dump_err)
        try:
            restore = subprocess.Popen(target, stdin=subprocess.PIPE, stdout=restore_out, stderr=restore_err)
        except BaseException:
            dump.kill()
            dump.wait()
            raise
        assert dump.stdout is not None and restore.stdin is not None
        carrier = threading.Thread(target=relay.carry, args=(dump.stdout, restore.stdin), daemon=True)
        carrier.start()
        try:
            restored = restore.wait(timeout=timeout)
            if restored != 0:
                dump.kill()
            dumped = dump.wait(timeout=timeout)
            carrier.join(timeout=60)
        except BaseException as err:
            for process in (dump, restore):
                process.kill()
                process.wait()
            if isinstance(err, subprocess.TimeoutExpired):
                raise OperationError(f"the move of {what} did not end within {timeout:.0f} s; stopped") from err
            raise
        finally:
            if dump.poll() is None:
                dump.kill()
                dump.wait()
            dump.stdout.close()

        def said(stream: IO[bytes]) -> str:
            stream.seek(0)
            return stream.read().decode(errors="replace").strip()[-800:]

        if restored != 0:
            raise OperationError(f"restore of {what} failed, and was rolled back: {said(restore_err)}")
        if dumped != 0:
            raise OperationError(f"dump of {what} failed (the restore saw no COMMIT and rolled back): "
                                 f"{said(dump_err)}")  # fmt: skip
        if relay.tail != COMMIT or relay.broken:
            raise OperationError(
                f"the dump of {what} arrived without its end ({relay.sent:,} bytes, no COMMIT): the restore rolled "
                f"back, though both ends said they finished. {said(dump_err) or 'The source said nothing more.'}"
            )
        return said(restore_out)
