//! The image: the Dockerfile builds the cli crate's binary from the build context with the
//! workspace's Rust, runs it unprivileged on distroless with every library it links, and
//! exposes the default config's ports; `.dockerignore` keeps every workspace member in.

use kafka_obs_tests::cargo_toml::toml_value;
use kafka_obs_tests::dockerfile::{Ignore, Stage, ignored, json_array, parse_dockerfile};

use super::*;

/// The `members = [...]` list of the workspace.
fn workspace_members() -> Vec<String> {
    kafka_obs_tests::cargo_toml::workspace_members(&read("Cargo.toml"))
}

/// The rust-version of the workspace, and the cli crate's package and binary names.
fn cargo_facts() -> (String, String, String) {
    let ws = read("Cargo.toml");
    let rust = toml_value(&ws, "workspace.package", "rust-version").expect("rust-version");
    let cli = read("cli/Cargo.toml");
    let package = toml_value(&cli, "package", "name").expect("cli package name");
    let bin = toml_value(&cli, "bin", "name").unwrap_or_else(|| package.clone());
    (rust, package, bin)
}

/// The repository's `.dockerignore` patterns.
fn dockerignore() -> Vec<Ignore> {
    kafka_obs_tests::dockerfile::parse_dockerignore(&read(".dockerignore"))
}

/// The repository path a builder `install` command copies to `dest`, if any.
fn installed_from(stage: &Stage, dest: &str) -> Option<String> {
    for ins in stage.instructions.iter().filter(|i| i.keyword == "RUN") {
        for command in ins.args.split("&&") {
            let words: Vec<&str> = command.split_whitespace().collect();
            if words.first() != Some(&"install") || words.last() != Some(&dest) {
                continue;
            }
            let mut operands = Vec::new();
            let mut iter = words[1..words.len() - 1].iter();
            while let Some(w) = iter.next() {
                if matches!(*w, "-m" | "-o" | "-g") {
                    iter.next();
                } else if !w.starts_with('-') {
                    operands.push(w.to_string());
                }
            }
            return operands.pop();
        }
    }
    None
}

#[test]
fn dockerfile_builds_the_cli_binary_from_the_context_and_runs_it_unprivileged() {
    let (rust_version, package, bin) = cargo_facts();
    let (args, stages) = parse_dockerfile(&read("Dockerfile"));
    let patterns = dockerignore();
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    let builder = &stages[0];
    let runtime = stages.last().unwrap();

    let builder_name = the_builder_is_the_workspace_rust(builder, &args, &rust_version);
    every_copy_comes_from_the_context(builder, &patterns);
    let runs = the_build_is_the_cli_package_from_the_context(builder, &package, &bin, &patterns);
    the_runtime_is_distroless_and_not_root(runtime);
    let repo_config =
        the_runtime_runs_the_built_binary(runtime, builder, &builder_name, &runs, &bin);
    the_default_config_validates_and_its_ports_are_exposed(runtime, &repo_config);
}

/// The builder: the workspace's Rust on Debian bookworm (the runtime's Debian release).
/// Returns the builder stage's name.
fn the_builder_is_the_workspace_rust(
    builder: &Stage,
    args: &BTreeMap<String, String>,
    rust_version: &str,
) -> String {
    let image = builder.image.replace(
        "${RUST_VERSION}",
        args.get("RUST_VERSION").expect("ARG RUST_VERSION"),
    );
    assert_eq!(
        image,
        format!("rust:{rust_version}-bookworm"),
        "builder image vs workspace rust-version"
    );
    builder.name.clone().expect("the builder stage is named")
}

/// Every COPY from the build context exists and is not ignored.
fn every_copy_comes_from_the_context(builder: &Stage, patterns: &[Ignore]) {
    for ins in builder.instructions.iter().filter(|i| i.keyword == "COPY") {
        let words: Vec<&str> = ins.args.split_whitespace().collect();
        assert!(!words[0].starts_with("--from"), "{ins:?}");
        for src in &words[..words.len() - 1] {
            if *src == "." {
                continue;
            }
            assert!(
                root().join(src).exists(),
                "COPY source {src} does not exist"
            );
            assert!(
                !ignored(patterns, src),
                "COPY source {src} is in .dockerignore"
            );
        }
    }
}

/// The build is the cli package, and what it installs comes from the context. Returns the
/// builder's RUN commands.
fn the_build_is_the_cli_package_from_the_context<'a>(
    builder: &'a Stage,
    package: &str,
    bin: &str,
    patterns: &[Ignore],
) -> Vec<&'a str> {
    let runs: Vec<&str> = builder
        .instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect();
    let build = runs
        .iter()
        .find(|r| r.contains("cargo build"))
        .expect("a cargo build");
    assert!(
        build.contains(&format!("-p {package}"))
            && build.contains("--release")
            && build.contains("--locked"),
        "{build}"
    );
    let binary_path = format!("target/release/{bin}");
    assert!(
        build.contains(&binary_path),
        "the build copies {binary_path}: {build}"
    );
    for word in runs.iter().flat_map(|r| r.split_whitespace()) {
        let repo_path = !word.starts_with(['/', '-', '$'])
            && word.contains('/')
            && !word.starts_with("target/")
            && !word.contains("://");
        if repo_path {
            assert!(
                root().join(word).is_file(),
                "RUN uses {word}, which does not exist"
            );
            assert!(
                !ignored(patterns, word),
                "RUN uses {word}, which .dockerignore leaves out"
            );
        }
    }
    runs
}

/// The runtime: distroless, not root.
fn the_runtime_is_distroless_and_not_root(runtime: &Stage) {
    assert!(
        runtime.image.starts_with("gcr.io/distroless/cc-debian12"),
        "{}",
        runtime.image
    );
    let user = runtime
        .instructions
        .iter()
        .rfind(|i| i.keyword == "USER")
        .expect("USER in the runtime stage");
    for id in user.args.split(':') {
        let id: u32 = id
            .parse()
            .expect("numeric USER (so runAsNonRoot can check it)");
        assert_ne!(id, 0, "the image must not run as root");
    }
}

/// The runtime's exec-form entrypoint runs the binary the builder built, and its CMD a config
/// the builder installs. Returns that config's repository path.
fn the_runtime_runs_the_built_binary(
    runtime: &Stage,
    builder: &Stage,
    builder_name: &str,
    runs: &[&str],
    bin: &str,
) -> String {
    let mut copied = BTreeMap::new();
    for ins in runtime.instructions.iter().filter(|i| i.keyword == "COPY") {
        let words: Vec<&str> = ins.args.split_whitespace().collect();
        let from = words
            .iter()
            .find_map(|w| w.strip_prefix("--from="))
            .expect("runtime COPY --from the builder");
        assert_eq!(from, builder_name);
        let (src, dest) = (words[words.len() - 2], words[words.len() - 1]);
        assert!(
            runs.iter().any(|r| r.contains(src)),
            "COPY --from={from} {src}: the builder never writes it"
        );
        copied.insert(dest.to_string(), src.to_string());
    }
    let entrypoint = json_array(
        &runtime
            .instructions
            .iter()
            .find(|i| i.keyword == "ENTRYPOINT")
            .expect("ENTRYPOINT")
            .args,
    );
    assert_eq!(
        Path::new(&entrypoint[0]).file_name().unwrap().to_str(),
        Some(bin)
    );
    assert!(
        copied
            .get(&entrypoint[0])
            .is_some_and(|s| s.ends_with(&format!("/{bin}"))),
        "the entrypoint {} is the built binary: {copied:?}",
        entrypoint[0]
    );
    let cmd = json_array(
        &runtime
            .instructions
            .iter()
            .find(|i| i.keyword == "CMD")
            .expect("CMD")
            .args,
    );
    let config_path = cmd
        .iter()
        .skip_while(|a| *a != "--config")
        .nth(1)
        .expect("CMD passes --config");
    let staged = copied
        .get(config_path)
        .unwrap_or_else(|| panic!("{config_path} is not copied into the image"));
    installed_from(builder, staged)
        .unwrap_or_else(|| panic!("the builder does not install {staged}"))
}

/// The default configuration is valid (given its one required variable) and the image
/// exposes exactly the ports it listens on.
fn the_default_config_validates_and_its_ports_are_exposed(runtime: &Stage, repo_config: &str) {
    let out = Command::new(kafka_obs_bin())
        .args(["validate", "--config"])
        .arg(root().join(repo_config))
        .env("AGGREGATOR_URL", "http://kafka-obs-aggregator:50051")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exposed: BTreeSet<u16> = runtime
        .instructions
        .iter()
        .filter(|i| i.keyword == "EXPOSE")
        .flat_map(|i| i.args.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
        .collect();
    let env = BTreeMap::from([("AGGREGATOR_URL".to_string(), "http://a:50051".to_string())]);
    assert_eq!(
        exposed,
        listening_ports(&read(repo_config), &env),
        "EXPOSE vs {repo_config}"
    );
}

/// Shared libraries gcr.io/distroless/cc-debian12 ships (glibc, libgcc, libstdc++, OpenSSL 3).
const DISTROLESS_CC_LIBS: &[&str] = &[
    "linux-vdso.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libgomp.so.1",
    "libssl.so.3",
    "libcrypto.so.3",
];

#[test]
fn the_runtime_image_has_every_library_the_binary_links() {
    let Ok(out) = Command::new("ldd").arg(kafka_obs_bin()).output() else {
        panic!("ldd is needed to check the binary's shared libraries");
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, stages) = parse_dockerfile(&read("Dockerfile"));
    let builder_env: Vec<&str> = stages[0]
        .instructions
        .iter()
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| i.args.split_whitespace())
        .collect();
    // Libraries the Dockerfile's builder links statically instead.
    let static_in_image: Vec<&str> = [("LIBZ_SYS_STATIC=1", "libz.so.1")]
        .into_iter()
        .filter(|(setting, _)| builder_env.contains(setting))
        .map(|(_, lib)| lib)
        .collect();
    let linked: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|l| l.rsplit('/').next().unwrap().to_string())
        .collect();
    assert!(linked.iter().any(|l| l == "libc.so.6"), "{linked:?}");
    let missing: Vec<&String> = linked
        .iter()
        .filter(|l| {
            !DISTROLESS_CC_LIBS.contains(&l.as_str()) && !static_in_image.contains(&l.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the binary links {missing:?}, which gcr.io/distroless/cc-debian12 does not have: link them statically in the Dockerfile's builder or pick another runtime image"
    );
}

#[test]
fn dockerignore_keeps_every_workspace_member_in_the_build_context() {
    let patterns = dockerignore();
    let members = workspace_members();
    assert!(members.contains(&"cli".to_string()), "{members:?}");
    for path in ["Cargo.toml", "Cargo.lock"]
        .into_iter()
        .map(String::from)
        .chain(members.iter().map(|m| format!("{m}/Cargo.toml")))
    {
        assert!(!ignored(&patterns, &path), "{path} is in .dockerignore");
    }
    // Every file git tracks inside a member (sources, build scripts, protos, presets).
    let out = Command::new("git")
        .args(["ls-files"])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    assert!(out.status.success());
    let tracked = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for path in tracked.lines() {
        if members.iter().any(|m| path.starts_with(&format!("{m}/"))) {
            checked += 1;
            assert!(
                !ignored(&patterns, path),
                "{path} (a workspace file) is in .dockerignore"
            );
        }
    }
    assert!(
        checked > 50,
        "only {checked} tracked files in workspace members?"
    );
    assert!(
        ignored(&patterns, "target/release/kafka-obs"),
        "target/ must stay out"
    );
}
