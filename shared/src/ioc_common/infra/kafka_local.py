"""A real single-node Apache Kafka (KRaft, broker+controller) on 127.0.0.1, without Docker.

The broker's jars come from Maven Central through ``kafka-pom.xml`` (cached outside the repo,
in ``$IOC_CACHE_DIR`` or ``~/.cache/ioc-platform``); the log directory lives in a temp dir and
survives ``restart()``, so fault tests can restart the broker with its data kept.

By default it has one PLAINTEXT listener and no authorizer. ``LocalKafka(sasl=BrokerSasl(...))``
starts it as a deployment runs it instead: SASL_PLAINTEXT with SCRAM-SHA-512 for clients and the
broker itself (users bootstrapped at format time), SASL PLAIN on the controller listener,
``StandardAuthorizer`` with ``admin`` as the only super user; ``acl()`` then runs Kafka's own
``AclCommand`` (the jar ``kafka_tools_jar`` fetches) as that admin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path

from ioc_common.infra.process import LocalDaemon, free_port, stop_process, tail, wait_for_port

KAFKA_VERSION = "4.1.1"


def cache_dir() -> Path:
    return Path(os.environ.get("IOC_CACHE_DIR", Path.home() / ".cache" / "ioc-platform"))


def kafka_libs(progress: bool = True) -> Path:
    """The directory of Kafka's runtime jars, fetched once with Maven."""
    libs = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError(
            "Maven (mvn) is needed once to fetch the Kafka jars: apt-get install maven"
        )
    libs.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"[kafka] fetching Apache Kafka {KAFKA_VERSION} jars with Maven into {libs} ...")
    with as_file(files("ioc_common.infra") / "kafka-pom.xml") as pom:
        subprocess.run(
            [
                "mvn", "-B", "-q", "-f", str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
                f"-Dkafka.version={KAFKA_VERSION}",
            ],
            check=True,
        )  # fmt: skip
    marker.write_text(KAFKA_VERSION)
    return libs


def kafka_tools_jar(progress: bool = True) -> Path:
    """Kafka's command-line tools (``AclCommand``); its dependencies are among ``kafka_libs``."""
    tools = cache_dir() / f"kafka-{KAFKA_VERSION}" / "tools"
    jar = tools / f"kafka-tools-{KAFKA_VERSION}.jar"
    if jar.exists():
        return jar
    kafka_libs(progress)
    if progress:
        print(f"[kafka] fetching kafka-tools {KAFKA_VERSION} with Maven into {tools} ...")
    with as_file(files("ioc_common.infra") / "kafka-pom.xml") as pom:
        subprocess.run(
            [
                "mvn", "-B", "-q", "-f", str(pom), "dependency:copy",
                f"-Dartifact=org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
                f"-DoutputDirectory={tools}",
            ],
            check=True,
        )  # fmt: skip
    return jar


SUPER_USER = "admin"


@dataclass(frozen=True)
class BrokerSasl:
    """A broker that authenticates and authorizes every client, as deployments run it."""

    admin_password: str
    #: SCRAM-SHA-512 users (name → password) created when the storage is formatted.
    users: Mapping[str, str] = field(default_factory=dict)


def _jaas(module: str, user: str, password: str, extra: str = "") -> str:
    return f'{module} required username="{user}" password="{password}"{extra};'


class LocalKafka(LocalDaemon):
    def __init__(
        self, work_dir: Path | None = None, heap: str = "512m", sasl: BrokerSasl | None = None
    ) -> None:
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="ioc-kafka-"))
        self.heap = heap
        self.sasl = sasl
        self.port = free_port()
        self.controller_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.work_dir / "kafka.log"
        self._formatted = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str) -> list[str]:
        return ["java", f"-Xmx{self.heap}", "-XX:+UseSerialGC", "-cp", f"{kafka_libs()}/*", *args]

    def _write_config(self) -> Path:
        data = self.work_dir / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "6",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.flush.interval.messages": "1",  # keep acknowledged data across a SIGKILL
        }
        if self.sasl is not None:
            props |= self._sasl_props(self.sasl)
        path = self.work_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.work_dir / "log4j2.properties").write_text(
            "rootLogger.level=WARN\nrootLogger.appenderRef.out.ref=OUT\n"
            "appender.out.type=Console\nappender.out.name=OUT\n"
            "appender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
        )
        return path

    def _sasl_props(self, sasl: BrokerSasl) -> dict[str, str]:
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        pw = sasl.admin_password
        props = {
            "listeners": f"BROKER://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"BROKER://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "BROKER",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.broker.scram-sha-512.sasl.jaas.config": _jaas(scram, SUPER_USER, pw),
            # The controller cannot read SCRAM users from a log it has not loaded yet: PLAIN.
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": _jaas(
                plain, SUPER_USER, pw, f' user_{SUPER_USER}="{pw}"'
            ),
            "auto.create.topics.enable": "false",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{SUPER_USER}",
            "allow.everyone.if.no.acl.found": "false",
        }
        return props

    def _format_args(self) -> list[str]:
        if self.sasl is None:
            return []
        users = {SUPER_USER: self.sasl.admin_password, **self.sasl.users}
        args: list[str] = []
        for name, password in users.items():
            args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return args

    def admin_client_config(self) -> Path:
        """A client properties file that logs the admin in (for Kafka's command-line tools)."""
        if self.sasl is None:
            raise RuntimeError("the broker runs without SASL; it needs no client config")
        path = self.work_dir / "admin.properties"
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        path.write_text(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
            f"sasl.jaas.config={_jaas(scram, SUPER_USER, self.sasl.admin_password)}\n"
        )
        path.chmod(0o600)
        return path

    def acl(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run ``kafka-acls.sh`` (``AclCommand``) with ``args`` as the admin, on this broker."""
        classpath = f"{kafka_libs()}/*:{kafka_tools_jar()}"
        return subprocess.run(
            [
                "java", "-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath,
                f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
                "org.apache.kafka.tools.AclCommand",
                "--bootstrap-server", self.bootstrap,
                "--command-config", str(self.admin_client_config()),
                *args,
            ],
            check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def start(self, timeout_s: float = 90.0) -> LocalKafka:
        config = self._write_config()
        if not self._formatted:
            cluster_id = uuid.uuid4().hex[:22]
            subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id,
                           "-c", str(config), *self._format_args()),
                check=True, capture_output=True,
            )  # fmt: skip
            self._formatted = True
        env = {**os.environ, "KAFKA_LOG4J_OPTS": ""}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    *self._java(
                        f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
                        "kafka.Kafka",
                        str(config),
                    )
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        wait_for_port("127.0.0.1", self.port, timeout_s, self.proc, self.log)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def log_tail(self) -> str:
        return tail(self.log)
