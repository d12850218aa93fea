//! Bad inputs get clear, typed errors that name the input, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ask, engine, start_plain};
use test_fixtures::fixture;
use wasm_runtime::{Error, LIFECYCLE_EXPORT};

fn load_error(bytes: &[u8], name: &str) -> Error {
    match engine().loader().load_bytes(name, bytes) {
        Err(e) => {
            assert!(
                e.to_string().contains(name),
                "error does not name {name}: {e}"
            );
            e
        }
        Ok(_) => panic!("{name} loaded"),
    }
}

#[test]
fn random_bytes_are_not_wasm() {
    // A fixed pseudo-random sequence (xorshift), so the test is repeatable.
    let mut x: u32 = 0x9e37_79b9;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    assert!(matches!(
        load_error(&bytes, "random.wasm"),
        Error::NotWasm { .. }
    ));
}

#[test]
fn an_empty_file_is_not_wasm() {
    let error = load_error(b"", "empty.wasm");
    assert!(
        matches!(&error, Error::NotWasm { detail, .. } if detail.contains("empty")),
        "{error}"
    );
}

#[test]
fn a_core_module_is_refused_with_advice() {
    // A valid core module exporting one function.
    let module: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
        0x03, 0x02, 0x01, 0x00, // function section
        0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f"
        0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: empty body
    ];
    let error = load_error(module, "module.wasm");
    assert!(matches!(error, Error::CoreModule { .. }));
    assert!(error.to_string().contains("wasm32-wasip2"), "{error}");
}

#[test]
fn a_truncated_component_is_invalid() {
    let echo = fixture("echo");
    for cut in [9, echo.len() / 3, echo.len() - 1] {
        let error = load_error(&echo[..cut], "truncated.wasm");
        assert!(
            matches!(error, Error::Invalid { .. }),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn a_component_exporting_another_interface_names_what_it_exports() {
    let error = load_error(&fixture("wrong-export"), "wrong-export.wasm");
    match &error {
        Error::MissingExport {
            expected, found, ..
        } => {
            assert_eq!(*expected, LIFECYCLE_EXPORT);
            assert!(found.contains("airssys:test/other"), "{found}");
        }
        other => panic!("expected a missing export, got {other}"),
    }
}

#[test]
fn a_component_importing_an_unknown_interface_names_it() {
    let error = load_error(&fixture("unknown-import"), "unknown-import.wasm");
    assert!(
        matches!(&error, Error::UnknownImport { import, .. } if import.starts_with("airssys:test/mystery")),
        "{error}"
    );
}

#[test]
fn a_missing_file_names_the_path() {
    let path = std::path::Path::new("/nonexistent/dir/component.wasm");
    let error = engine().loader().load_file(path).err();
    assert!(
        matches!(&error, Some(e @ Error::Read { .. }) if e.to_string().contains("/nonexistent/dir/component.wasm")),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_engine_serves_after_every_bad_input() {
    let engine = engine();
    let loader = engine.loader();
    for bytes in [&b""[..], b"junk", &fixture("echo")[..20]] {
        assert!(loader.load_bytes("bad.wasm", bytes).is_err());
    }
    let mut echo = start_plain(&engine, "echo").await;
    assert_eq!(ask(&mut echo, "fine").await, "fine");
}
