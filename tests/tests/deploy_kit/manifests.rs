//! The Kubernetes manifests in deploy/kubernetes/ fit together: known kinds, the
//! kustomization lists them all, selectors, volumes, probes and ports agree, each kafka-obs
//! ConfigMap is an example verbatim that validates with its Deployment's env, container ports
//! are exactly the config's listeners, and the sidecar reaches the aggregator's `signals`
//! receiver through its Service.

use kafka_obs_tests::dockerfile::parse_dockerfile;

use super::*;

const KNOWN_KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
];

/// Every document of every manifest in deploy/kubernetes/, by file name.
pub(super) fn manifests() -> BTreeMap<String, Vec<Yaml>> {
    let dir = root().join("deploy/kubernetes");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut docs = Vec::new();
        let mut current = String::new();
        for line in text.lines().chain(std::iter::once("---")) {
            if line.trim_end() == "---" {
                let doc: Yaml = serde_yaml_ng::from_str(&current)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if !doc.is_null() {
                    docs.push(doc);
                }
                current.clear();
            } else {
                current.push_str(line);
                current.push('\n');
            }
        }
        out.insert(
            path.file_name().unwrap().to_str().unwrap().to_string(),
            docs,
        );
    }
    out
}

fn kind(doc: &Yaml) -> (&str, &str) {
    (
        yaml_str(doc, &["apiVersion"]).expect("apiVersion"),
        yaml_str(doc, &["kind"]).expect("kind"),
    )
}

fn find<'a>(all: &'a BTreeMap<String, Vec<Yaml>>, k: &str, name: &str) -> Option<&'a Yaml> {
    all.values()
        .flatten()
        .find(|d| kind(d).1 == k && yaml_str(d, &["metadata", "name"]) == Some(name))
}

fn seq<'a>(v: &'a Yaml, path: &[&str]) -> Vec<&'a Yaml> {
    yaml_get(v, path)
        .and_then(Yaml::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// The kafka-obs container (its image is kafka-obs) of a Deployment.
pub(super) fn kafka_obs_container(deployment: &Yaml) -> &Yaml {
    seq(deployment, &["spec", "template", "spec", "containers"])
        .into_iter()
        .find(|c| yaml_str(c, &["image"]).is_some_and(|i| i.starts_with("kafka-obs")))
        .expect("a kafka-obs container")
}

/// Whether the Deployment's pod runs an application next to kafka-obs (the sidecar model).
fn has_application(deployment: &Yaml) -> bool {
    seq(deployment, &["spec", "template", "spec", "containers"])
        .into_iter()
        .any(|c| {
            !yaml_str(c, &["image"])
                .unwrap_or("")
                .starts_with("kafka-obs")
        })
}

/// The Deployment whose pod runs an application with the kafka-obs sidecar.
pub(super) fn sidecar_deployment(all: &BTreeMap<String, Vec<Yaml>>) -> &Yaml {
    all.values()
        .flatten()
        .find(|d| kind(d).1 == "Deployment" && has_application(d))
        .expect("the sidecar Deployment")
}

/// The Deployment that runs kafka-obs alone (the central aggregator).
pub(super) fn central_deployment(all: &BTreeMap<String, Vec<Yaml>>) -> &Yaml {
    all.values()
        .flatten()
        .find(|d| kind(d).1 == "Deployment" && !has_application(d))
        .expect("the central Deployment")
}

/// A pod name as a Deployment's ReplicaSet would make it.
fn pod_name(deployment: &Yaml) -> String {
    format!(
        "{}-5d9c7-x2x4q",
        yaml_str(deployment, &["metadata", "name"]).unwrap()
    )
}

/// A container's env as the kubelet would set it (plus HOSTNAME = the pod name).
pub(super) fn container_env(deployment: &Yaml, container: &Yaml) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([("HOSTNAME".to_string(), pod_name(deployment))]);
    for e in seq(container, &["env"]) {
        let name = yaml_str(e, &["name"]).unwrap().to_string();
        let value = if let Some(v) = yaml_str(e, &["value"]) {
            v.to_string()
        } else {
            let field = yaml_str(e, &["valueFrom", "fieldRef", "fieldPath"])
                .unwrap_or_else(|| panic!("env {name}: only value and fieldRef are supported"));
            if let Some(label) = field
                .strip_prefix("metadata.labels['")
                .and_then(|l| l.strip_suffix("']"))
            {
                yaml_str(
                    deployment,
                    &["spec", "template", "metadata", "labels", label],
                )
                .unwrap_or_else(|| panic!("env {name}: the pod has no label {label}"))
                .to_string()
            } else if field == "metadata.name" {
                pod_name(deployment)
            } else {
                panic!("env {name}: fieldRef {field} not handled here")
            }
        };
        env.insert(name, value);
    }
    env
}

/// Which example each kafka-obs ConfigMap holds, verbatim.
const CONFIG_MAPS: &[(&str, &str)] = &[
    ("kafka-obs-sidecar", "examples/sidecar.yaml"),
    ("kafka-obs-central", "examples/aggregator.yaml"),
    ("kafka-obs-regional", "examples/federation/regional.yaml"),
];

/// The kafka-obs config a container runs: the image's --config path in its mounted ConfigMap,
/// with the ConfigMap's name.
pub(super) fn mounted_config<'a>(
    all: &'a BTreeMap<String, Vec<Yaml>>,
    deployment: &Yaml,
    container: &Yaml,
) -> (&'a str, &'a str) {
    let config_path = Path::new("/etc/kafka-obs/config.yaml");
    let args: Vec<&str> = seq(container, &["args"])
        .into_iter()
        .chain(seq(container, &["command"]))
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        args.is_empty(),
        "the kafka-obs container runs the image's default command (--config {}): {args:?}",
        config_path.display()
    );
    for mount in seq(container, &["volumeMounts"]) {
        let mount_path = yaml_str(mount, &["mountPath"]).unwrap();
        let Ok(key) = config_path.strip_prefix(mount_path) else {
            continue;
        };
        let volume = yaml_str(mount, &["name"]).unwrap();
        let volume = seq(deployment, &["spec", "template", "spec", "volumes"])
            .into_iter()
            .find(|v| yaml_str(v, &["name"]) == Some(volume))
            .unwrap();
        let map_name = yaml_str(volume, &["configMap", "name"]).expect("a configMap volume");
        let map = find(all, "ConfigMap", map_name)
            .unwrap_or_else(|| panic!("ConfigMap {map_name} is not in deploy/kubernetes/"));
        let config = yaml_str(map, &["data", key.to_str().unwrap()])
            .unwrap_or_else(|| panic!("ConfigMap {map_name} has no key {}", key.display()));
        let map_name = yaml_str(map, &["metadata", "name"]).unwrap();
        return (map_name, config);
    }
    panic!("nothing is mounted at {}", config_path.display())
}

/// A container's ports by name.
fn container_ports(container: &Yaml) -> BTreeMap<String, u16> {
    seq(container, &["ports"])
        .into_iter()
        .map(|p| {
            (
                yaml_str(p, &["name"])
                    .expect("named container ports")
                    .to_string(),
                yaml_get(p, &["containerPort"])
                    .and_then(Yaml::as_u64)
                    .unwrap() as u16,
            )
        })
        .collect()
}

/// A port given by name or number, as a container port number.
fn resolve_port(port: &Yaml, ports: &BTreeMap<String, u16>) -> Option<u16> {
    match port {
        Yaml::String(n) => ports.get(n.as_str()).copied(),
        other => other
            .as_u64()
            .map(|p| p as u16)
            .filter(|p| ports.values().any(|v| v == p)),
    }
}

/// Whether a selector's labels are all on the Deployment's pods.
fn selects(selector: &Yaml, deployment: &Yaml) -> bool {
    selector.as_mapping().is_some_and(|m| {
        !m.is_empty()
            && m.iter().all(|(k, v)| {
                yaml_get(
                    deployment,
                    &[
                        "spec",
                        "template",
                        "metadata",
                        "labels",
                        k.as_str().unwrap(),
                    ],
                ) == Some(v)
            })
    })
}

/// The Deployment a Service selects and the Service port `port` leads to: (deployment, the
/// container port it targets).
fn service_target<'a>(
    all: &'a BTreeMap<String, Vec<Yaml>>,
    service: &Yaml,
    port: u16,
) -> Option<(&'a Yaml, u16)> {
    let selector = yaml_get(service, &["spec", "selector"])?;
    let deployment = all
        .values()
        .flatten()
        .find(|d| kind(d).1 == "Deployment" && selects(selector, d))?;
    let p = seq(service, &["spec", "ports"])
        .into_iter()
        .find(|p| yaml_get(p, &["port"]).and_then(Yaml::as_u64) == Some(u64::from(port)))?;
    let target = yaml_get(p, &["targetPort"]).or_else(|| yaml_get(p, &["port"]))?;
    let ports = container_ports(kafka_obs_container(deployment));
    Some((deployment, resolve_port(target, &ports)?))
}

#[test]
fn kubernetes_manifests_fit_together_and_every_config_validates() {
    let all = manifests();
    every_document_is_a_known_kind_with_a_name(&all);
    the_kustomization_lists_exactly_the_other_manifests(&all);
    every_config_map_is_an_example(&all);
    let mut deployments = 0;
    for deployment in all.values().flatten().filter(|d| kind(d).1 == "Deployment") {
        deployments += 1;
        containers_mount_volumes_and_probe_their_ports(deployment);
        let example = the_config_is_an_example_that_validates(&all, deployment);
        check_kafka_obs_container(&KafkaObs::of(&all, deployment), example);
    }
    assert!(deployments >= 2, "the sidecar and central Deployments");
    every_service_targets_container_ports(&all);
    the_aggregator_url_leads_to_the_central_signals_receiver(&all);
}

fn every_document_is_a_known_kind_with_a_name(all: &BTreeMap<String, Vec<Yaml>>) {
    for (file, docs) in all {
        assert!(!docs.is_empty(), "{file} is empty");
        for doc in docs {
            let (api, k) = kind(doc);
            assert!(KNOWN_KINDS.contains(&(api, k)), "{file}: unknown {api} {k}");
            if k != "Kustomization" {
                assert!(
                    yaml_str(doc, &["metadata", "name"]).is_some(),
                    "{file}: {k} without a name"
                );
            }
        }
    }
}

fn the_kustomization_lists_exactly_the_other_manifests(all: &BTreeMap<String, Vec<Yaml>>) {
    let kustomization = all
        .values()
        .flatten()
        .find(|d| kind(d).1 == "Kustomization")
        .expect("kustomization.yaml");
    let listed: BTreeSet<String> = seq(kustomization, &["resources"])
        .into_iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let files: BTreeSet<String> = all
        .keys()
        .filter(|f| *f != "kustomization.yaml")
        .cloned()
        .collect();
    assert_eq!(
        listed, files,
        "kustomization.yaml resources vs deploy/kubernetes/*.yaml"
    );
}

/// Every ConfigMap is an example, verbatim (which one: [`CONFIG_MAPS`]).
fn every_config_map_is_an_example(all: &BTreeMap<String, Vec<Yaml>>) {
    for map in all.values().flatten().filter(|d| kind(d).1 == "ConfigMap") {
        let name = yaml_str(map, &["metadata", "name"]).unwrap();
        assert!(
            CONFIG_MAPS.iter().any(|(n, _)| *n == name),
            "ConfigMap {name}: add it to CONFIG_MAPS with the example it holds"
        );
    }
}

/// The selector matches the pod, every mount is a volume, every probe port a container port.
fn containers_mount_volumes_and_probe_their_ports(deployment: &Yaml) {
    let name = yaml_str(deployment, &["metadata", "name"]).unwrap();
    let selector = yaml_get(deployment, &["spec", "selector", "matchLabels"]).expect("matchLabels");
    assert!(
        selects(selector, deployment),
        "{name}: the selector must match the pod labels"
    );
    let volumes: BTreeSet<&str> = seq(deployment, &["spec", "template", "spec", "volumes"])
        .into_iter()
        .map(|v| yaml_str(v, &["name"]).unwrap())
        .collect();
    for container in seq(deployment, &["spec", "template", "spec", "containers"]) {
        let cname = yaml_str(container, &["name"]).expect("container name");
        assert!(yaml_str(container, &["image"]).is_some(), "{cname}: image");
        for m in seq(container, &["volumeMounts"]) {
            let v = yaml_str(m, &["name"]).unwrap();
            assert!(
                volumes.contains(v),
                "{cname} mounts {v}, which is not a volume"
            );
        }
        let ports = container_ports(container);
        for probe in ["livenessProbe", "readinessProbe"] {
            if let Some(port) = yaml_get(container, &[probe, "httpGet", "port"]) {
                assert!(
                    resolve_port(port, &ports).is_some(),
                    "{cname}: {probe} port {port:?} is not a container port"
                );
            }
        }
    }
}

/// A Deployment's kafka-obs container and what its checks read: the env the Deployment gives
/// it, the config its ConfigMap holds (expanded) and what that config listens on.
struct KafkaObs<'a> {
    name: &'a str,
    deployment: &'a Yaml,
    container: &'a Yaml,
    env: BTreeMap<String, String>,
    parsed: Yaml,
    ports: BTreeMap<String, u16>,
    listening: Vec<Listener>,
}

impl<'a> KafkaObs<'a> {
    fn of(all: &'a BTreeMap<String, Vec<Yaml>>, deployment: &'a Yaml) -> Self {
        let container = kafka_obs_container(deployment);
        let env = container_env(deployment, container);
        let (_, config) = mounted_config(all, deployment, container);
        KafkaObs {
            name: yaml_str(deployment, &["metadata", "name"]).unwrap(),
            deployment,
            container,
            parsed: parse_expanded(config, &env),
            ports: container_ports(container),
            listening: listeners(config, &env),
            env,
        }
    }
}

/// The kafka-obs container of a Deployment whose config validates.
fn check_kafka_obs_container(k: &KafkaObs<'_>, example: &str) {
    the_container_ports_are_the_public_listeners(k, example);
    probes_reach_the_health_check(k, example);
    prometheus_scrapes_the_self_metrics_port(k);
    a_disk_queue_is_on_a_writable_volume(k);
    token_files_come_from_secret_volumes(k);
    the_image_user_is_the_pod_user(k);
    the_application_jmx_port_is_the_one_the_sidecar_reads(k);
    a_streamed_hierarchy_runs_one_replica(k);
}

/// The kafka-obs container's config is an example, verbatim, and validates with the env the
/// Deployment gives it (checked before anything parses it). Returns the example's path.
fn the_config_is_an_example_that_validates(
    all: &BTreeMap<String, Vec<Yaml>>,
    deployment: &Yaml,
) -> &'static str {
    let name = yaml_str(deployment, &["metadata", "name"]).unwrap();
    let kafka_obs = kafka_obs_container(deployment);
    let env = container_env(deployment, kafka_obs);
    let (map_name, config) = mounted_config(all, deployment, kafka_obs);
    let example = CONFIG_MAPS
        .iter()
        .find(|(n, _)| *n == map_name)
        .map(|(_, e)| *e)
        .unwrap();
    assert_eq!(
        config,
        read(example),
        "ConfigMap {map_name} config.yaml must be {example} verbatim (copy it over)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(kafka_obs_bin())
        .args(["validate", "--config"])
        .arg(&path)
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {example} with the Deployment's env:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    example
}

/// Container ports are the config's listeners, and each listens beyond loopback (the kubelet
/// probes, Prometheus scrapes, Services forward to the pod's address).
fn the_container_ports_are_the_public_listeners(k: &KafkaObs<'_>, example: &str) {
    let (name, listening) = (k.name, &k.listening);
    let declared: BTreeSet<u16> = k.ports.values().copied().collect();
    assert_eq!(
        declared,
        listening.iter().map(|l| l.port).collect(),
        "{name}: container ports vs the listeners of {example}: {listening:?}"
    );
    for l in listening {
        assert!(
            l.is_public(),
            "{name}: {example} binds {} to {}, which is not reachable from outside the container",
            l.key,
            l.host
        );
    }
}

/// Probes go to the health check's port and path.
fn probes_reach_the_health_check(k: &KafkaObs<'_>, example: &str) {
    let name = k.name;
    let health_path = yaml_str(&k.parsed, &["extensions", "health_check", "path"]).unwrap_or("/");
    let health_port = k
        .listening
        .iter()
        .find(|l| l.key == "extensions::health_check::endpoint")
        .unwrap_or_else(|| panic!("{name}: {example} has no health_check endpoint"))
        .port;
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            yaml_str(k.container, &[probe, "httpGet", "path"]),
            Some(health_path),
            "{name}: {probe} path"
        );
        assert_eq!(
            yaml_get(k.container, &[probe, "httpGet", "port"])
                .and_then(|p| resolve_port(p, &k.ports)),
            Some(health_port),
            "{name}: {probe} port"
        );
    }
}

/// A pod-scraping Prometheus is sent to the self-metrics port.
fn prometheus_scrapes_the_self_metrics_port(k: &KafkaObs<'_>) {
    if let Some(port) = yaml_str(
        k.deployment,
        &[
            "spec",
            "template",
            "metadata",
            "annotations",
            "prometheus.io/port",
        ],
    ) {
        let metrics = k
            .listening
            .iter()
            .find(|l| l.key == "service::telemetry::metrics::address")
            .unwrap();
        assert_eq!(
            port,
            metrics.port.to_string(),
            "{}: prometheus.io/port",
            k.name
        );
    }
}

/// A read-only root file system needs a disk queue on a writable volume.
fn a_disk_queue_is_on_a_writable_volume(k: &KafkaObs<'_>) {
    let file_storage = seq(&k.parsed, &["service", "extensions"])
        .into_iter()
        .any(|e| e.as_str().is_some_and(|e| type_of(e) == "file_storage"));
    if file_storage
        && yaml_get(k.container, &["securityContext", "readOnlyRootFilesystem"])
            == Some(&Yaml::Bool(true))
    {
        let queue = yaml_str(&k.parsed, &["extensions", "file_storage", "directory"])
            .unwrap_or("/var/lib/kafka-obs/file_storage");
        assert!(
            seq(k.container, &["volumeMounts"]).into_iter().any(|m| {
                queue.starts_with(yaml_str(m, &["mountPath"]).unwrap())
                    && yaml_get(m, &["readOnly"]) != Some(&Yaml::Bool(true))
            }),
            "{}: the disk queue {queue} is not on a writable volume",
            k.name
        );
    }
}

/// A token file the config reads comes from a Secret volume with that key.
fn token_files_come_from_secret_volumes(k: &KafkaObs<'_>) {
    let name = k.name;
    for (id, ext) in k
        .parsed
        .get("extensions")
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
    {
        let Some(file) = yaml_str(ext, &["filename"]) else {
            continue;
        };
        let id = id.as_str().unwrap();
        let file = Path::new(file);
        let (mount, volume) = seq(k.container, &["volumeMounts"])
            .into_iter()
            .find_map(|m| {
                let mount = Path::new(yaml_str(m, &["mountPath"]).unwrap());
                file.starts_with(mount).then(|| {
                    (
                        mount,
                        seq(k.deployment, &["spec", "template", "spec", "volumes"])
                            .into_iter()
                            .find(|v| yaml_str(v, &["name"]) == yaml_str(m, &["name"]))
                            .unwrap(),
                    )
                })
            })
            .unwrap_or_else(|| {
                panic!("{name}: extensions::{id}::filename {file:?} is on no volume")
            });
        let secret = yaml_get(volume, &["secret"])
            .unwrap_or_else(|| panic!("{name}: {file:?} should come from a Secret volume"));
        let relative = file.strip_prefix(mount).unwrap().to_str().unwrap();
        let items = seq(secret, &["items"]);
        assert!(
            items.is_empty()
                || items
                    .iter()
                    .any(|i| yaml_str(i, &["path"]) == Some(relative)),
            "{name}: the Secret volume has no item with path {relative}"
        );
    }
}

/// The image's user (Dockerfile USER) is the one the pod asks for.
fn the_image_user_is_the_pod_user(k: &KafkaObs<'_>) {
    if let Some(uid) =
        yaml_get(k.container, &["securityContext", "runAsUser"]).and_then(Yaml::as_u64)
    {
        let (_, stages) = parse_dockerfile(&read("Dockerfile"));
        let user = stages
            .last()
            .unwrap()
            .instructions
            .iter()
            .rfind(|i| i.keyword == "USER")
            .unwrap()
            .args
            .clone();
        assert_eq!(user.split(':').next(), Some(uid.to_string().as_str()));
    }
}

/// The app's JMX port is the one the sidecar reads.
fn the_application_jmx_port_is_the_one_the_sidecar_reads(k: &KafkaObs<'_>) {
    if has_application(k.deployment) {
        let options = java_tool_options(k.deployment);
        let jmx_port = options
            .split_whitespace()
            .find_map(|o| o.strip_prefix("-Dcom.sun.management.jmxremote.port="))
            .expect("jmxremote.port in JAVA_TOOL_OPTIONS");
        assert_eq!(
            k.env.get("JMX_URL").map(|u| port_of(u).to_string()),
            Some(jmx_port.to_string())
        );
    }
}

/// A hierarchy fed by a gRPC stream or OTLP runs as one replica: a sidecar's stream lands on
/// one replica, so several would each see part of a cluster. Scale-out is the kafka
/// receiver's consumer group (see the manifest's comment).
fn a_streamed_hierarchy_runs_one_replica(k: &KafkaObs<'_>) {
    let streamed = k
        .listening
        .iter()
        .any(|l| l.key.starts_with("receivers::signals") || l.key.starts_with("receivers::otlp"));
    let hierarchy = k
        .listening
        .iter()
        .any(|l| l.key.starts_with("connectors::hierarchy"));
    if hierarchy && streamed {
        assert_eq!(
            yaml_get(k.deployment, &["spec", "replicas"]).and_then(Yaml::as_u64),
            Some(1),
            "{}: replicas",
            k.name
        );
    }
}

/// Every Service selects a Deployment's pods and targets its container ports.
fn every_service_targets_container_ports(all: &BTreeMap<String, Vec<Yaml>>) {
    for service in all.values().flatten().filter(|d| kind(d).1 == "Service") {
        let name = yaml_str(service, &["metadata", "name"]).unwrap();
        for p in seq(service, &["spec", "ports"]) {
            let port = yaml_get(p, &["port"]).and_then(Yaml::as_u64).unwrap() as u16;
            assert!(
                service_target(all, service, port).is_some(),
                "Service {name} port {port}: no Deployment's pods behind it with that target port"
            );
        }
    }
}

/// The sidecar's AGGREGATOR_URL is a Service of the kit leading to the central config's
/// `signals` receiver.
fn the_aggregator_url_leads_to_the_central_signals_receiver(all: &BTreeMap<String, Vec<Yaml>>) {
    let sidecar = sidecar_deployment(all);
    let env = container_env(sidecar, kafka_obs_container(sidecar));
    let url = &env["AGGREGATOR_URL"];
    let authority = url.split_once("://").map_or(url.as_str(), |(_, a)| a);
    let (host, port) = authority.trim_end_matches('/').rsplit_once(':').unwrap();
    let service = find(all, "Service", host)
        .unwrap_or_else(|| panic!("AGGREGATOR_URL {url}: no Service {host} in deploy/kubernetes/"));
    let (central, target) = service_target(all, service, port.parse().unwrap())
        .unwrap_or_else(|| panic!("AGGREGATOR_URL {url}: Service {host} has no port {port}"));
    let central_container = kafka_obs_container(central);
    let central_env = container_env(central, central_container);
    let (_, central_config) = mounted_config(all, central, central_container);
    let listener = listeners(central_config, &central_env)
        .into_iter()
        .find(|l| l.port == target)
        .unwrap();
    assert!(
        listener.key.starts_with("receivers::signals"),
        "AGGREGATOR_URL {url} leads to {}, not to a signals receiver",
        listener.key
    );
}

/// The JAVA_TOOL_OPTIONS of the application container (the one that is not kafka-obs).
pub(super) fn java_tool_options(deployment: &Yaml) -> String {
    seq(deployment, &["spec", "template", "spec", "containers"])
        .into_iter()
        .filter(|c| {
            !yaml_str(c, &["image"])
                .unwrap_or("")
                .starts_with("kafka-obs")
        })
        .flat_map(|c| seq(c, &["env"]))
        .find(|e| yaml_str(e, &["name"]) == Some("JAVA_TOOL_OPTIONS"))
        .and_then(|e| yaml_str(e, &["value"]))
        .expect("the application container sets JAVA_TOOL_OPTIONS")
        .to_string()
}
