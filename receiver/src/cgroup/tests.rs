use std::path::{Path, PathBuf};
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};

use super::config::ProcessMatch;
use super::files::{self, Layout};
use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/cgroup")
        .join(name)
}

fn yaml(s: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(s).expect("yaml")
}

fn config_at(root: &Path, process: Option<ProcessMatch>) -> CgroupReceiverConfig {
    let mut c = CgroupReceiverConfig::parse(&serde_yaml_ng::Value::Null).expect("defaults");
    c.root_path = root.to_path_buf();
    c.process = process;
    c
}

/// The metric values of a poll, by name.
fn values(poll: &Poll) -> Vec<(String, f64)> {
    let Batch::Metrics(req) = &poll.batch else {
        panic!("a metrics batch")
    };
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let points = match &m.data {
                    Some(Data::Gauge(g)) => &g.data_points,
                    Some(Data::Sum(s)) => &s.data_points,
                    _ => panic!("{} is a gauge or a sum", m.name),
                };
                for p in points {
                    let v = match p.value {
                        Some(number_data_point::Value::AsInt(i)) => i as f64,
                        Some(number_data_point::Value::AsDouble(d)) => d,
                        None => f64::NAN,
                    };
                    out.push((m.name.clone(), v));
                }
            }
        }
    }
    out
}

fn value(poll: &Poll, name: &str) -> Option<f64> {
    values(poll)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[test]
fn testdata_resolves_to_the_expected_configs() {
    let all: serde_yaml_ng::Mapping =
        serde_yaml_ng::from_str(include_str!("../../testdata/cgroup.yaml")).expect("yaml");
    let get = |k: &str| all.get(k).cloned().unwrap_or_else(|| panic!("{k}"));
    let d = CgroupReceiverConfig::parse(&get("cgroup")).expect("defaults");
    assert_eq!(d.collection_interval, Duration::from_secs(10));
    assert_eq!(d.root_path, PathBuf::from("/"));
    assert_eq!(d.process, None);
    assert_eq!(d.cgroup_path, None);
    assert_eq!(d.downward_api, DownwardApi::default());
    assert_eq!(d.downward_api.pod_name_env, "K8S_POD_NAME");

    let f = CgroupReceiverConfig::parse(&get("cgroup/full")).expect("full");
    assert_eq!(f.collection_interval, Duration::from_secs(15));
    assert_eq!(f.initial_delay, Duration::from_secs(1));
    assert_eq!(f.root_path, PathBuf::from("/hostfs"));
    assert_eq!(f.cgroup_path.as_deref(), Some("kubepods/pod-a/orders"));
    assert!(
        matches!(&f.process, Some(ProcessMatch::CommandLine(r)) if r.as_str() == "kafka\\.Kafka")
    );
    assert_eq!(f.resource_attributes["service.instance.id"], "orders-0");
    assert_eq!(f.downward_api.namespace_env, "MY_NAMESPACE");
}

#[test]
fn bad_keys_name_their_path_and_what_to_do() {
    let cases = [
        ("root_path: hostfs", "root_path", "absolute"),
        (
            "collection_interval: 0s",
            "collection_interval",
            "above zero",
        ),
        ("cgroup_path: ../etc", "cgroup_path", ".."),
        (
            "process: {pid: 1, pid_file: /run/a.pid}",
            "process",
            "exactly one",
        ),
        ("process: {}", "process", "exactly one"),
        ("process: {pid: 0}", "process::pid", "above 0"),
        (
            "process: {command_line: '('}",
            "process::command_line",
            "regular expression",
        ),
        (
            "downward_api: {pod_name_env: ''}",
            "downward_api::pod_name_env",
            "fieldRef",
        ),
        ("root_pth: /", "root_pth", "unknown field"),
    ];
    for (text, path, words) in cases {
        let e = CgroupReceiverConfig::parse(&yaml(text)).expect_err(text);
        assert_eq!(e.path, path, "{text}: {e}");
        assert!(e.message.contains(words), "{text}: {e}");
    }
}

#[test]
fn resource_takes_the_downward_api_variables_unless_configured() {
    let mut c = CgroupReceiverConfig::parse(&yaml(
        "resource_attributes: {service.name: orders, k8s.namespace.name: fixed}",
    ))
    .expect("valid");
    c.downward_api.container_name_env = "CTR".into();
    let env = |var: &str| match var {
        "K8S_POD_NAME" => Some("orders-7f9".to_string()),
        "K8S_NAMESPACE_NAME" => Some("from-env".to_string()),
        "CTR" => Some("app".to_string()),
        _ => None,
    };
    let r = c.resource(env);
    let get = |k: &str| {
        r.attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
                    Some(s.clone())
                }
                _ => None,
            })
    };
    assert_eq!(get("service.name").as_deref(), Some("orders"));
    assert_eq!(get("k8s.pod.name").as_deref(), Some("orders-7f9"));
    assert_eq!(get("k8s.namespace.name").as_deref(), Some("fixed"));
    assert_eq!(get("container.name").as_deref(), Some("app"));
    assert_eq!(get("k8s.container.name").as_deref(), Some("app"));
    let none = c.resource(|_| None);
    assert_eq!(none.attributes.len(), 2);
}

#[test]
fn v2_fixture_reads_every_value_in_its_unit() {
    let root = fixture("v2");
    let mut s = Scraper::new(&config_at(&root, None), Resource::default());
    let poll = s.poll();
    assert_eq!(
        poll.layout,
        Layout::V2 {
            dir: root.join("sys/fs/cgroup/kubepods/pod-a/orders")
        }
    );
    assert!(
        poll.cgroup.missing.is_empty() && poll.cgroup.invalid.is_empty(),
        "{:?}",
        poll.cgroup
    );
    assert_eq!(value(&poll, convert::CPU_TIME), Some(2.5));
    assert_eq!(value(&poll, convert::THROTTLING_PERIODS), Some(400.0));
    assert_eq!(value(&poll, convert::THROTTLED_PERIODS), Some(100.0));
    assert_eq!(value(&poll, convert::THROTTLED_TIME), Some(1.5e9));
    assert_eq!(value(&poll, convert::MEMORY_USAGE), Some(805_306_368.0));
    assert_eq!(
        value(&poll, convert::MEMORY_WORKING_SET),
        Some(705_306_368.0)
    );
    assert_eq!(value(&poll, convert::MEMORY_LIMIT), Some(1_073_741_824.0));
    let util = value(&poll, convert::MEMORY_LIMIT_UTILIZATION).expect("limit set");
    assert!(
        (util - 705_306_368.0 / 1_073_741_824.0).abs() < 1e-12,
        "{util}"
    );
    assert_eq!(value(&poll, convert::OOM_KILLS), Some(2.0));
    // No process watched: none of its metrics.
    assert_eq!(value(&poll, convert::RESTARTS), None);
    assert_eq!(value(&poll, convert::OPEN_FDS), None);
}

#[test]
fn v2_max_means_no_limit_and_a_namespaced_root_is_the_container() {
    let root = fixture("v2-namespaced");
    let poll = Scraper::new(&config_at(&root, None), Resource::default()).poll();
    assert_eq!(
        poll.layout,
        Layout::V2 {
            dir: root.join("sys/fs/cgroup")
        }
    );
    assert_eq!(value(&poll, convert::MEMORY_USAGE), Some(4096.0));
    assert_eq!(value(&poll, convert::MEMORY_LIMIT), None);
    assert_eq!(value(&poll, convert::MEMORY_LIMIT_UTILIZATION), None);
    assert_eq!(value(&poll, convert::CPU_TIME), Some(1e-5));
    assert!(poll.cgroup.invalid.is_empty());
}

#[test]
fn v1_fixture_reads_per_controller_files_and_its_no_limit_number() {
    let root = fixture("v1");
    let poll = Scraper::new(&config_at(&root, None), Resource::default()).poll();
    assert_eq!(
        poll.layout,
        Layout::V1 {
            memory: root.join("sys/fs/cgroup/memory/docker/abc"),
            cpu: root.join("sys/fs/cgroup/cpu,cpuacct/docker/abc"),
            cpuacct: root.join("sys/fs/cgroup/cpu,cpuacct/docker/abc"),
        }
    );
    assert!(poll.cgroup.missing.is_empty(), "{:?}", poll.cgroup.missing);
    assert_eq!(value(&poll, convert::CPU_TIME), Some(7.0));
    assert_eq!(value(&poll, convert::THROTTLING_PERIODS), Some(50.0));
    assert_eq!(value(&poll, convert::THROTTLED_PERIODS), Some(5.0));
    assert_eq!(value(&poll, convert::THROTTLED_TIME), Some(2e7));
    assert_eq!(value(&poll, convert::MEMORY_USAGE), Some(3e8));
    // total_inactive_file (hierarchical) wins over the cgroup's own inactive_file.
    assert_eq!(value(&poll, convert::MEMORY_WORKING_SET), Some(2.5e8));
    assert_eq!(value(&poll, convert::MEMORY_LIMIT), None);
    assert_eq!(value(&poll, convert::OOM_KILLS), Some(1.0));
}

#[test]
fn missing_and_garbled_files_are_named_and_left_out() {
    let root = fixture("broken");
    let poll = Scraper::new(&config_at(&root, None), Resource::default()).poll();
    let dir = root.join("sys/fs/cgroup");
    assert_eq!(value(&poll, convert::MEMORY_USAGE), Some(123_456.0));
    assert_eq!(value(&poll, convert::MEMORY_LIMIT), None);
    assert_eq!(value(&poll, convert::THROTTLING_PERIODS), None);
    assert_eq!(
        poll.cgroup.invalid,
        [dir.join("cpu.stat"), dir.join("memory.max")]
    );
    assert_eq!(
        poll.cgroup.missing,
        [dir.join("memory.stat"), dir.join("memory.events")]
    );
    // Nothing there at all: every file missing, no metric, no panic.
    let empty = tempfile::tempdir().expect("tmp");
    let poll = Scraper::new(&config_at(empty.path(), None), Resource::default()).poll();
    assert!(values(&poll).is_empty());
    assert!(poll.cgroup.missing.len() >= 5, "{:?}", poll.cgroup.missing);
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn the_watched_process_gives_fds_their_limit_and_restarts_on_a_new_start_time() {
    let tmp = tempfile::tempdir().expect("tmp");
    copy_tree(&fixture("v2"), tmp.path());
    let root = tmp.path();
    let watch = ProcessMatch::CommandLine(regex::Regex::new("kafka\\.Kafka").expect("re"));
    let mut s = Scraper::new(&config_at(root, Some(watch)), Resource::default());
    let poll = s.poll();
    let p = poll.process.as_ref().expect("watched");
    assert_eq!(p.problem, None);
    assert_eq!(
        p.identity.map(|i| (i.pid, i.start_ticks)),
        Some((4242, 987_654))
    );
    assert_eq!(value(&poll, convert::OPEN_FDS), Some(9.0));
    assert_eq!(value(&poll, convert::FD_LIMIT), Some(10.0));
    assert_eq!(value(&poll, convert::RESTARTS), Some(0.0));
    // The process's own cgroup is read.
    assert_eq!(
        poll.layout.memory_dir(),
        root.join("sys/fs/cgroup/kubepods/pod-a/orders")
    );

    // Same pid, new start time (pid 1 of a restarted container): one restart.
    let stat = root.join("proc/4242/stat");
    let text = std::fs::read_to_string(&stat).expect("stat");
    std::fs::write(&stat, text.replace("987654", "999999")).expect("write");
    assert_eq!(value(&s.poll(), convert::RESTARTS), Some(1.0));
    assert_eq!(value(&s.poll(), convert::RESTARTS), Some(1.0));

    // Gone: not visible, said why, restarts kept but not reported as new.
    std::fs::rename(root.join("proc/4242"), root.join("proc/gone")).expect("rename");
    let poll = s.poll();
    let p = poll.process.as_ref().expect("watched");
    assert!(
        p.problem
            .as_deref()
            .is_some_and(|m| m.contains("shareProcessNamespace")),
        "{p:?}"
    );
    assert_eq!(value(&poll, convert::OPEN_FDS), None);
    assert_eq!(value(&poll, convert::RESTARTS), Some(1.0));
    // Back under another pid: a second restart.
    std::fs::rename(root.join("proc/gone"), root.join("proc/5000")).expect("rename");
    assert_eq!(value(&s.poll(), convert::RESTARTS), Some(2.0));
}

#[test]
fn a_pid_file_with_garbage_is_a_clear_problem_not_a_crash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("app.pid");
    std::fs::write(&file, "not-a-pid\n").expect("write");
    let mut s = Scraper::new(
        &config_at(&fixture("v2"), Some(ProcessMatch::PidFile(file.clone()))),
        Resource::default(),
    );
    let poll = s.poll();
    let problem = poll.process.and_then(|p| p.problem).expect("problem");
    assert!(problem.contains("not a pid"), "{problem}");
    std::fs::write(&file, "4242").expect("write");
    let poll = s.poll();
    assert_eq!(poll.process.and_then(|p| p.open_fds), Some(9));
}

#[test]
fn files_layout_falls_back_to_the_mount_root_for_an_unknown_path() {
    let root = fixture("v2");
    let l = files::locate(&root, "0::/not/here\n", None);
    assert_eq!(
        l,
        Layout::V2 {
            dir: root.join("sys/fs/cgroup")
        }
    );
    let l = files::locate(&root, "", Some("kubepods/pod-a/orders"));
    assert_eq!(
        l,
        Layout::V2 {
            dir: root.join("sys/fs/cgroup/kubepods/pod-a/orders")
        }
    );
}

#[test]
fn a_watched_process_in_a_cgroup_not_mounted_here_is_said_not_silently_ours() {
    let tmp = tempfile::tempdir().expect("tmp");
    copy_tree(&fixture("v2"), tmp.path());
    let root = tmp.path();
    std::fs::write(root.join("proc/4242/cgroup"), "0::/../other-container\n").expect("write");
    let mut s = Scraper::new(
        &config_at(root, Some(ProcessMatch::Pid(4242))),
        Resource::default(),
    );
    let poll = s.poll();
    assert_eq!(
        poll.foreign_cgroup.as_deref(),
        Some("0::/../other-container")
    );
    // Its own cgroup mounted here: nothing to say.
    std::fs::write(root.join("proc/4242/cgroup"), "0::/kubepods/pod-a/orders\n").expect("write");
    std::fs::write(root.join("proc/self/cgroup"), "0::/\n").expect("write");
    let poll = s.poll();
    assert_eq!(poll.foreign_cgroup, None);
    assert_eq!(
        poll.layout.memory_dir(),
        root.join("sys/fs/cgroup/kubepods/pod-a/orders")
    );
}

#[test]
fn v1_memory_path_tells_mounted_from_fallen_back() {
    let root = fixture("v1");
    let here = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n";
    let elsewhere = "4:memory:/docker/zzz\n3:cpu,cpuacct:/docker/zzz\n";
    assert!(files::is_mounted(&files::locate(&root, here, None), here));
    assert!(!files::is_mounted(
        &files::locate(&root, elsewhere, None),
        elsewhere
    ));
}
