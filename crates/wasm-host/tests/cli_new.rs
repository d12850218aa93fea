//! `airssys-wasm new`: a scaffolded project in each language builds with its one documented
//! command and answers `airssys-wasm call` through the manifest written next to it.
//!
//! The toolchains are the ones `cargo xtask test` installs: the wasm32-wasip2 target,
//! componentize-py in `target/tools/python`, componentize-js in `target/tools/js` (linked in as
//! the project's `node_modules`, so the test needs no network).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::Path;
use std::process::{Command, Stdio};

use cli_support::*;

/// Runs `program args` in `dir` with the environment of a shell, not of this test's cargo.
fn build(dir: &Path, program: &str, args: &[&str]) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" {
            cmd.env_remove(&key);
        }
    }
    let tools = root().join("target/tools");
    let path = format!(
        "{}:{}",
        tools.join("python/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = cmd
        .env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed in {}:\n{}\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Scaffolds `name` in `lang`, builds it as its README says, and calls it.
fn scaffold_build_call(lang: &str, name: &str, build_it: impl FnOnce(&Path)) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join(name);
    let out = run([
        "new".as_ref(),
        dir.as_os_str(),
        "--lang".as_ref(),
        lang.as_ref(),
    ]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains(&format!("app/{name}/1")), "{out}");
    for file in [
        "airssys.toml",
        "README.md",
        "wit/world.wit",
        "wit/storage.wit",
    ] {
        assert!(dir.join(file).is_file(), "{lang}: no {file}");
    }
    build_it(&dir);
    let manifest = dir.join("airssys.toml");
    let reply = run([
        "call".as_ref(),
        manifest.as_os_str(),
        format!("app/{name}/1").as_ref(),
        "hello".as_ref(),
    ]);
    assert_eq!(reply.code(), 0, "{reply}");
    assert_eq!(reply.stdout.trim(), format!("{name}: hello"), "{reply}");
    // Its error path is the contract's: an empty payload is an error reply.
    let refused = run([
        "call".as_ref(),
        manifest.as_os_str(),
        format!("app/{name}/1").as_ref(),
        "".as_ref(),
    ]);
    assert_eq!(refused.code(), RUNTIME, "{refused}");
    assert!(refused.stderr.contains("error-reply"), "{refused}");
    assert!(refused.stderr.contains("empty payload"), "{refused}");
}

#[test]
fn a_rust_project_builds_with_cargo_and_answers() {
    scaffold_build_call("rust", "hello-rust", |dir| {
        build(
            dir,
            "cargo",
            &["build", "--release", "--target", "wasm32-wasip2"],
        );
    });
}

#[test]
fn a_python_project_builds_with_componentize_py_and_answers() {
    scaffold_build_call("python", "hello-python", |dir| {
        build(
            dir,
            "componentize-py",
            &[
                "-d",
                "wit",
                "-w",
                "runtime-host",
                "componentize",
                "app",
                "-o",
                "app.wasm",
            ],
        );
    });
}

#[test]
fn a_javascript_project_builds_with_npm_and_answers() {
    scaffold_build_call("js", "hello-js", |dir| {
        // The pinned toolchain xtask installed stands in for `npm install`.
        std::os::unix::fs::symlink(
            root().join("target/tools/js/node_modules"),
            dir.join("node_modules"),
        )
        .unwrap();
        build(dir, "npm", &["run", "build"]);
    });
}

#[test]
fn new_refuses_a_non_empty_directory_and_a_bad_name() {
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(parent.path().join("keep.txt"), "mine").unwrap();
    let out = run([
        "new".as_ref(),
        parent.path().as_os_str(),
        "--lang".as_ref(),
        "rust".as_ref(),
    ]);
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(out.stderr.contains("is not empty"), "{out}");
    assert_eq!(
        std::fs::read_to_string(parent.path().join("keep.txt")).unwrap(),
        "mine"
    );
    let out = run([
        "new".as_ref(),
        parent.path().join("Bad_Name").as_os_str(),
        "--lang".as_ref(),
        "python".as_ref(),
    ]);
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(
        out.stderr.contains("`Bad_Name` is not a component name"),
        "{out}"
    );
    assert!(!parent.path().join("Bad_Name").exists());
}
