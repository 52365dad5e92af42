//! The scenario JVM: Kafka client, broker and business MBeans playing scripted trajectories.
//!
//! The Java program lives in `<workspace>/scenario` (JDK-only, see its README.md for the phases
//! and the exact values per tick). [`ScenarioBuilder::start`] compiles it with
//! [`java::compile`](crate::java::compile), starts it with a JMX agent via
//! [`JvmBuilder`](crate::java::JvmBuilder), and waits for its `READY` line. Commands go over
//! stdin and each waits for its `ACK` (or fails with the program's `ERR` message), so a test
//! that pauses the scenario and steps it with [`ScenarioJvm::tick`] sees exact values.
//!
//! ```no_run
//! use kafka_obs_testkit::scenario::{ScenarioJvm, names};
//! let scenario = ScenarioJvm::builder().paused().start()?;
//! scenario.phase("buffer-pressure")?;
//! scenario.tick()?;
//! let producer = names::producer_metrics(names::DEFAULT_PRODUCER);
//! assert_eq!(scenario.get_f64(&producer, "buffer-available-bytes")?, 10_066_330.0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::java::{self, Jvm, JvmBuilder};

/// The directory of the scenario's Java sources.
pub fn scenario_dir() -> PathBuf {
    crate::workspace_root().join("scenario")
}

/// ObjectNames the scenario registers (with the default ids unless given others).
pub mod names {
    /// Default producer client-id.
    pub const DEFAULT_PRODUCER: &str = "order-producer";
    /// Default consumer client-id.
    pub const DEFAULT_CONSUMER: &str = "inventory-consumer";
    /// Default topics.
    pub const DEFAULT_TOPICS: [&str; 2] = ["orders", "payments"];
    /// Default partitions per topic.
    pub const DEFAULT_PARTITIONS: u32 = 3;
    /// The business MBean.
    pub const BUSINESS: &str = "com.example.orders:type=OrderMetrics";
    /// Broker: `Value` (Integer).
    pub const UNDER_REPLICATED: &str =
        "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions";
    /// Broker: `Value` (Integer).
    pub const OFFLINE_PARTITIONS: &str =
        "kafka.controller:type=KafkaController,name=OfflinePartitionsCount";
    /// Broker: `Value` (Integer).
    pub const ACTIVE_CONTROLLER: &str =
        "kafka.controller:type=KafkaController,name=ActiveControllerCount";
    /// Broker meter: `Count` (Long), rates (Double).
    pub const ISR_SHRINKS: &str = "kafka.server:type=ReplicaManager,name=IsrShrinksPerSec";
    /// Broker meter: `Count` (Long), rates (Double).
    pub const ISR_EXPANDS: &str = "kafka.server:type=ReplicaManager,name=IsrExpandsPerSec";
    /// Broker: `Value` (Double).
    pub const NETWORK_IDLE: &str =
        "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent";
    /// Broker meter: `OneMinuteRate` (Double) is the idle fraction.
    pub const HANDLER_IDLE: &str =
        "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent";
    /// Broker timer: `Count` (Long), rates and histogram attributes (Double).
    pub const LEADER_ELECTIONS: &str =
        "kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs";
    /// Broker meter: `Count` (Long).
    pub const UNCLEAN_ELECTIONS: &str =
        "kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec";

    /// `kafka.producer:type=producer-metrics,client-id=<id>`
    pub fn producer_metrics(client_id: &str) -> String {
        format!("kafka.producer:type=producer-metrics,client-id={client_id}")
    }

    /// `kafka.producer:type=producer-topic-metrics,client-id=<id>,topic=<t>`
    pub fn producer_topic_metrics(client_id: &str, topic: &str) -> String {
        format!("kafka.producer:type=producer-topic-metrics,client-id={client_id},topic={topic}")
    }

    /// `kafka.consumer:type=consumer-fetch-manager-metrics,client-id=<id>`
    pub fn consumer_fetch(client_id: &str) -> String {
        format!("kafka.consumer:type=consumer-fetch-manager-metrics,client-id={client_id}")
    }

    /// `...consumer-fetch-manager-metrics,client-id=<id>,topic=<t>`
    pub fn consumer_fetch_topic(client_id: &str, topic: &str) -> String {
        format!("{},topic={topic}", consumer_fetch(client_id))
    }

    /// `...consumer-fetch-manager-metrics,client-id=<id>,topic=<t>,partition=<p>`
    pub fn consumer_fetch_partition(client_id: &str, topic: &str, partition: u32) -> String {
        format!(
            "{},topic={topic},partition={partition}",
            consumer_fetch(client_id)
        )
    }

    /// `kafka.consumer:type=consumer-coordinator-metrics,client-id=<id>`
    pub fn consumer_coordinator(client_id: &str) -> String {
        format!("kafka.consumer:type=consumer-coordinator-metrics,client-id={client_id}")
    }

    /// `kafka.consumer:type=consumer-metrics,client-id=<id>`
    pub fn consumer_metrics(client_id: &str) -> String {
        format!("kafka.consumer:type=consumer-metrics,client-id={client_id}")
    }

    /// `kafka.server:type=BrokerTopicMetrics,name=<name>` (`BytesInPerSec`, ...), all topics.
    pub fn broker_topic_metrics(name: &str) -> String {
        format!("kafka.server:type=BrokerTopicMetrics,name={name}")
    }

    /// `kafka.network:type=RequestMetrics,name=TotalTimeMs,request=<request>`
    pub fn request_total_time(request: &str) -> String {
        format!("kafka.network:type=RequestMetrics,name=TotalTimeMs,request={request}")
    }
}

/// Which MBeans the scenario registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Producer, consumer and business MBeans.
    #[default]
    Client,
    /// Broker (Yammer-style) MBeans only.
    Broker,
    /// Everything.
    Both,
}

impl Role {
    fn as_arg(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Broker => "broker",
            Role::Both => "both",
        }
    }
}

/// A hook that adjusts the JVM command line (auth, a fixed JMX port, system properties).
type JvmHook = Box<dyn FnOnce(JvmBuilder) -> JvmBuilder + Send>;

/// Options of the scenario JVM; see `scenario/README.md`.
pub struct ScenarioBuilder {
    args: Vec<OsString>,
    jvm_hook: Option<JvmHook>,
    command_timeout: Duration,
    startup_timeout: Duration,
}

impl fmt::Debug for ScenarioBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScenarioBuilder")
            .field("args", &self.args)
            .field("jvm_hook", &self.jvm_hook.is_some())
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl Default for ScenarioBuilder {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            jvm_hook: None,
            command_timeout: Duration::from_secs(30),
            startup_timeout: Duration::from_secs(30),
        }
    }
}

impl ScenarioBuilder {
    fn opt(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.args.push(name.into());
        self.args.push(value.into());
        self
    }

    /// `--timeline`, e.g. `normal:3t,buffer-pressure:5t,recovery` (default `normal` forever).
    pub fn timeline(self, spec: &str) -> Self {
        self.opt("--timeline", spec)
    }

    /// `--timeline-file`: one `phase duration` per line.
    pub fn timeline_file(self, path: impl AsRef<Path>) -> Self {
        self.opt("--timeline-file", path.as_ref().as_os_str())
    }

    /// `--tick`: how often values advance when not paused (default 1 s).
    pub fn tick(self, every: Duration) -> Self {
        self.opt("--tick", format!("{}ms", every.as_millis().max(1)))
    }

    /// `--paused`: nothing moves until [`ScenarioJvm::tick`] (the way to exact trajectories).
    pub fn paused(mut self) -> Self {
        self.args.push("--paused".into());
        self
    }

    /// `--loop`: repeat the timeline.
    pub fn looped(mut self) -> Self {
        self.args.push("--loop".into());
        self
    }

    /// `--role`.
    pub fn role(self, role: Role) -> Self {
        self.opt("--role", role.as_arg())
    }

    /// `--service`.
    pub fn service(self, name: &str) -> Self {
        self.opt("--service", name)
    }

    /// `--producer`: producer client-ids.
    pub fn producers(self, ids: &[&str]) -> Self {
        self.opt("--producer", ids.join(","))
    }

    /// `--consumer`: consumer client-ids.
    pub fn consumers(self, ids: &[&str]) -> Self {
        self.opt("--consumer", ids.join(","))
    }

    /// `--topics`.
    pub fn topics(self, topics: &[&str]) -> Self {
        self.opt("--topics", topics.join(","))
    }

    /// `--partitions` per topic.
    pub fn partitions(self, n: u32) -> Self {
        self.opt("--partitions", n.to_string())
    }

    /// Any other program argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adjusts the JVM command line, e.g. `.jvm(|b| b.auth(pw, access).jmx_port(p))`.
    pub fn jvm(mut self, hook: impl FnOnce(JvmBuilder) -> JvmBuilder + Send + 'static) -> Self {
        self.jvm_hook = Some(Box::new(hook));
        self
    }

    /// How long each command waits for its `ACK` (default 30 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The program arguments (for logs and tests).
    pub fn program_args(&self) -> &[OsString] {
        &self.args
    }

    /// Compiles the scenario (cached), starts the JVM and waits for `READY`.
    pub fn start(self) -> io::Result<ScenarioJvm> {
        let classes = java::compile(&scenario_dir())?;
        let mut builder = JvmBuilder::new(&classes, "ScenarioMain")
            .args(self.args.iter().cloned())
            .stdin_piped()
            .startup_timeout(self.startup_timeout);
        if let Some(hook) = self.jvm_hook {
            builder = hook(builder);
        }
        let jvm = builder.spawn()?;
        let ready = jvm.wait_for_line(|l| l.starts_with("READY "), self.startup_timeout)?;
        Ok(ScenarioJvm {
            jvm,
            ready,
            timeout: self.command_timeout,
        })
    }
}

/// One step of the scenario as its `TICK` line reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// Global tick number (1 = the first tick after READY).
    pub n: u64,
    /// The phase that produced this step's values.
    pub phase: String,
    /// The step within that phase (0 = its first tick).
    pub k: u64,
}

impl Tick {
    /// Parses `TICK <n> phase=<name> k=<k>`.
    pub fn parse(line: &str) -> Option<Tick> {
        let mut words = line.split_whitespace();
        if words.next()? != "TICK" {
            return None;
        }
        let n = words.next()?.parse().ok()?;
        let phase = words.next()?.strip_prefix("phase=")?.to_owned();
        let k = words.next()?.strip_prefix("k=")?.parse().ok()?;
        Some(Tick { n, phase, k })
    }
}

/// A running scenario JVM (killed on drop).
#[derive(Debug)]
pub struct ScenarioJvm {
    jvm: Jvm,
    ready: String,
    timeout: Duration,
}

impl ScenarioJvm {
    /// Starts building a scenario JVM.
    pub fn builder() -> ScenarioBuilder {
        ScenarioBuilder::default()
    }

    /// The underlying JVM (ports, pid, raw stdout, kill).
    pub fn jvm(&self) -> &Jvm {
        &self.jvm
    }

    /// The underlying JVM, mutably (terminate, kill).
    pub fn jvm_mut(&mut self) -> &mut Jvm {
        &mut self.jvm
    }

    /// The JMX port.
    pub fn jmx_port(&self) -> u16 {
        self.jvm.jmx_port()
    }

    /// `service:jmx:rmi:///jndi/rmi://127.0.0.1:<port>/jmxrmi`.
    pub fn jmx_url(&self) -> String {
        self.jvm.jmx_url()
    }

    /// The `READY ...` line.
    pub fn ready_line(&self) -> &str {
        &self.ready
    }

    /// Sends a raw command and waits for its `ACK`; returns every line printed up to and
    /// including the `ACK`. An `ERR` reply becomes `ErrorKind::InvalidInput` with its message.
    pub fn command(&self, command: &str) -> io::Result<Vec<String>> {
        let command = command.trim();
        self.jvm.send_line(command)?;
        let ack = format!("ACK {command}");
        let err = format!("ERR {command} : ");
        let lines = self
            .jvm
            .read_until(|l| l == ack || l.starts_with(&err), self.timeout)
            .map_err(|e| io::Error::new(e.kind(), format!("command `{command}`: {e}")))?;
        match lines.last() {
            Some(last) if last.starts_with(&err) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("scenario rejected `{command}`: {}", &last[err.len()..]),
            )),
            _ => Ok(lines),
        }
    }

    /// Stops the wall-clock ticks.
    pub fn pause(&self) -> io::Result<()> {
        self.command("pause").map(drop)
    }

    /// Restarts the wall-clock ticks.
    pub fn resume(&self) -> io::Result<()> {
        self.command("resume").map(drop)
    }

    /// Advances one step (use while paused for exact values) and returns it.
    pub fn tick(&self) -> io::Result<Tick> {
        let mut ticks = self.ticks(1)?;
        ticks
            .pop()
            .ok_or_else(|| io::Error::other("no TICK line before ACK tick"))
    }

    /// Advances `n` steps and returns them.
    pub fn ticks(&self, n: u32) -> io::Result<Vec<Tick>> {
        let command = if n == 1 {
            "tick".to_owned()
        } else {
            format!("tick {n}")
        };
        let lines = self.command(&command)?;
        Ok(lines.iter().filter_map(|l| Tick::parse(l)).collect())
    }

    /// Switches to `phase` at the next tick and leaves the timeline (manual control).
    pub fn phase(&self, phase: &str) -> io::Result<()> {
        self.command(&format!("phase {phase}")).map(drop)
    }

    /// Pins `attribute` of `object_name` to `value` (ticks no longer change it); creates the
    /// MBean or attribute when missing (a Double unless `value` has a `long:`/`int:`/... prefix).
    pub fn set(
        &self,
        object_name: &str,
        attribute: &str,
        value: impl fmt::Display,
    ) -> io::Result<()> {
        self.command(&format!("set {object_name} {attribute} {value}"))
            .map(drop)
    }

    /// Unpins one attribute (the next tick sets it again).
    pub fn unset(&self, object_name: &str, attribute: &str) -> io::Result<()> {
        self.command(&format!("unset {object_name} {attribute}"))
            .map(drop)
    }

    /// Unpins every attribute.
    pub fn unset_all(&self) -> io::Result<()> {
        self.command("unset all").map(drop)
    }

    /// The scenario's current value of an attribute as Java prints it (`NaN`, `1.6777216E7`).
    pub fn get(&self, object_name: &str, attribute: &str) -> io::Result<String> {
        let prefix = format!("VALUE {object_name} {attribute} ");
        let lines = self.command(&format!("get {object_name} {attribute}"))?;
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("no VALUE line for {object_name} {attribute}")))
    }

    /// [`get`](Self::get) parsed as a number (`NaN` included).
    pub fn get_f64(&self, object_name: &str, attribute: &str) -> io::Result<f64> {
        let text = self.get(object_name, attribute)?;
        text.parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{object_name} {attribute} = {text:?} is not a number: {e}"),
            )
        })
    }

    /// Unregisters the scenario MBeans matching an ObjectName pattern until [`register`](Self::register).
    pub fn unregister(&self, pattern: &str) -> io::Result<()> {
        self.command(&format!("unregister {pattern}")).map(drop)
    }

    /// Registers again the scenario MBeans matching the pattern.
    pub fn register(&self, pattern: &str) -> io::Result<()> {
        self.command(&format!("register {pattern}")).map(drop)
    }

    /// Runs `n` full collections (`System.gc()`); returns the `GC collections=+.. time_ms=+..` line.
    pub fn gc(&self, n: u32) -> io::Result<String> {
        let lines = self.command(&format!("gc {n}"))?;
        Ok(lines
            .iter()
            .find(|l| l.starts_with("GC "))
            .cloned()
            .unwrap_or_default())
    }

    /// The `STATUS ...` line (tick, phase, k, paused, timeline).
    pub fn status(&self) -> io::Result<String> {
        let lines = self.command("status")?;
        Ok(lines
            .iter()
            .find_map(|l| l.strip_prefix("STATUS "))
            .unwrap_or_default()
            .to_owned())
    }

    /// The ObjectNames registered right now.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let lines = self.command("list")?;
        Ok(lines
            .iter()
            .filter_map(|l| l.strip_prefix("MBEAN "))
            .map(str::to_owned)
            .collect())
    }

    /// Waits for the `PHASE <name>` line of the timeline (consuming the lines before it).
    pub fn wait_for_phase(&self, phase: &str, timeout: Duration) -> io::Result<String> {
        let prefix = format!("PHASE {phase} ");
        self.jvm.wait_for_line(|l| l.starts_with(&prefix), timeout)
    }

    /// Asks the program to exit and waits for it (killing it after 10 s).
    pub fn quit(mut self) -> io::Result<()> {
        self.command("quit")?;
        if self.jvm.wait_timeout(Duration::from_secs(10))?.is_none() {
            self.jvm.kill()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tick_lines() {
        assert_eq!(
            Tick::parse("TICK 12 phase=lag-spike k=3"),
            Some(Tick {
                n: 12,
                phase: "lag-spike".into(),
                k: 3
            })
        );
        assert_eq!(Tick::parse("ACK tick"), None);
        assert_eq!(Tick::parse("TICK x phase=a k=1"), None);
    }

    #[test]
    fn builder_collects_program_arguments() {
        let builder = ScenarioJvm::builder()
            .timeline("normal:2t,lag-spike")
            .tick(Duration::from_millis(250))
            .paused()
            .role(Role::Both)
            .topics(&["a", "b"])
            .partitions(2);
        let args: Vec<String> = builder
            .program_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--timeline",
                "normal:2t,lag-spike",
                "--tick",
                "250ms",
                "--paused",
                "--role",
                "both",
                "--topics",
                "a,b",
                "--partitions",
                "2"
            ]
        );
    }

    #[test]
    fn names_follow_kafka() {
        assert_eq!(
            names::consumer_fetch_partition("c", "orders", 2),
            "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c,topic=orders,partition=2"
        );
        assert!(scenario_dir().join("ScenarioMain.java").is_file());
    }
}
