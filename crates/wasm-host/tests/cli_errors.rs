//! Bad input to `airssys-wasm`: broken manifests (each error names the file, line, column and
//! key), unknown components, usage errors; each with its documented exit code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::*;

/// Runs `validate` on a manifest written from `text` and returns (manifest path, output).
fn validate(text: &str) -> (String, Output) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), text);
    let out = run(["validate".as_ref(), manifest.as_os_str()]);
    (manifest.display().to_string(), out)
}

#[test]
fn a_missing_wasm_file_is_named_with_its_position() {
    let (file, out) =
        validate("[[components]]\nid = \"orders/ghost/1\"\npath = \"{out}/ghost.wasm\"\n");
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(
        out.stderr
            .contains(&format!("{file}:3:8: `components[0].path`")),
        "{out}"
    );
    assert!(out.stderr.contains("ghost.wasm"), "{out}");
    assert!(out.stderr.contains("not found"), "{out}");
}

#[test]
fn a_malformed_component_id_is_named_with_its_position() {
    let (file, out) =
        validate("[[components]]\nid = \"orders/ingest\"\npath = \"{out}/ingest.wasm\"\n");
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(
        out.stderr
            .contains(&format!("{file}:2:6: `components[0].id`")),
        "{out}"
    );
    assert!(out.stderr.contains("orders/ingest"), "{out}");
}

#[test]
fn an_unknown_key_is_named_with_its_position() {
    let (file, out) = validate(
        "[[components]]\nid = \"orders/ingest/1\"\npath = \"{out}/ingest.wasm\"\ncolour = \"blue\"\n",
    );
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(out.stderr.contains(&format!("{file}:4:1: `")), "{out}");
    assert!(out.stderr.contains("colour"), "{out}");
}

#[test]
fn a_group_naming_an_unknown_component_is_named_with_its_position() {
    let (file, out) = validate(
        "[[components]]\nid = \"orders/ingest/1\"\npath = \"{out}/ingest.wasm\"\n\n\
         [[groups]]\nname = \"orders\"\nmembers = [\"orders/ingest/1\", \"orders/ghost/1\"]\n",
    );
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(
        out.stderr
            .contains(&format!("{file}:7:31: `groups[0].members`")),
        "{out}"
    );
    assert!(out.stderr.contains("orders/ghost/1"), "{out}");
}

#[test]
fn run_refuses_a_broken_manifest_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        "[[components]]\nid = \"orders/ingest/1\"\npath = \"{out}/ingest.wasm\"\n\n\
         [[components]]\nid = \"orders/ghost/1\"\npath = \"{out}/ghost.wasm\"\n",
    );
    let storage = dir.path().join("s.redb");
    let out = run([
        "run".as_ref(),
        manifest.as_os_str(),
        "--storage".as_ref(),
        storage.as_os_str(),
        "--exit-when-idle".as_ref(),
    ]);
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(
        out.stderr
            .contains(&format!("{}:7:8: `components[1].path`", manifest.display())),
        "{out}"
    );
    assert!(!out.stderr.contains("system started"), "{out}");
    assert!(!out.stdout.contains("summary:"), "{out}");
}

#[test]
fn call_on_a_component_the_manifest_does_not_define_is_invalid_input() {
    let out = run([
        "call".as_ref(),
        example_manifest().as_os_str(),
        "orders/nobody/1".as_ref(),
        "hello".as_ref(),
    ]);
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(
        out.stderr
            .contains("component orders/nobody/1 is not in manifest"),
        "{out}"
    );
    assert!(out.stderr.contains("orders/ledger/1"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn a_payload_file_that_does_not_exist_is_invalid_input() {
    let out = run([
        "run".as_ref(),
        example_manifest().as_os_str(),
        "--send".as_ref(),
        "orders/ingest/1=@/no/such/orders.txt".as_ref(),
        "--exit-when-idle".as_ref(),
    ]);
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(out.stderr.contains("/no/such/orders.txt"), "{out}");
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let missing = run(["run"]);
    assert_eq!(missing.code(), USAGE, "{missing}");
    assert!(missing.stderr.contains("<MANIFEST>"), "{missing}");
    let unknown = run(["launch", "x.toml"]);
    assert_eq!(unknown.code(), USAGE, "{unknown}");
    let bad_send = run(["run", "x.toml", "--send", "no-equals-sign"]);
    assert_eq!(bad_send.code(), USAGE, "{bad_send}");
    assert!(
        bad_send.stderr.contains("<component-id>=<payload>"),
        "{bad_send}"
    );
    let help = run(["--help"]);
    assert_eq!(help.code(), 0, "{help}");
    assert!(help.stdout.contains("Exit codes"), "{help}");
}

#[test]
fn a_core_module_is_refused_with_its_reason_said_once() {
    let dir = tempfile::tempdir().unwrap();
    // The smallest core module: the magic number and version 1.
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "[[components]]\nid = \"orders/core/1\"\npath = \"{}\"\n",
            core.display()
        ),
    );
    let out = run(["validate".as_ref(), manifest.as_os_str()]);
    assert_eq!(out.code(), INVALID, "{out}");
    assert_eq!(
        out.stderr.matches("is a core WebAssembly module").count(),
        1,
        "{out}"
    );
    assert!(
        out.stderr.contains("orders/core/1 cannot be loaded"),
        "{out}"
    );
}

#[test]
fn a_failed_request_says_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "[[components]]\nid = \"demo/panicker/1\"\npath = \"{}\"\n",
            test_fixtures::fixture_path("panicker").display()
        ),
    );
    let out = run([
        "call".as_ref(),
        manifest.as_os_str(),
        "demo/panicker/1".as_ref(),
        "panic".as_ref(),
    ]);
    assert_eq!(out.code(), RUNTIME, "{out}");
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("airssys-wasm: error:"))
        .unwrap_or_else(|| panic!("no error line: {out}"));
    assert_eq!(
        error.matches("request to demo/panicker/1 failed").count(),
        1,
        "{error}"
    );
    assert!(error.contains("target-failed"), "{error}");
    assert_eq!(
        error.matches("panicker was told to panic").count(),
        1,
        "{error}"
    );
}
