//! Every kind of manifest error names the file, the line and column, and the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasm_host::{EngineConfig, Error, Manifest, ManifestErrorKind, WasmEngine};

const FILE: &str = "/tmp/system.toml";

/// Parses `text` and returns (kind, line, column, key, display).
fn fail(text: &str) -> (ManifestErrorKind, usize, usize, String, String) {
    match Manifest::parse(text, FILE) {
        Ok(m) => panic!("expected an error, parsed {m:?}"),
        Err(e) => match &e {
            Error::Manifest {
                kind,
                line,
                column,
                key,
                file,
                ..
            } => {
                assert_eq!(file.to_str(), Some(FILE));
                let shown = e.to_string();
                assert!(
                    shown.starts_with(&format!("{FILE}:{line}:{column}: `{key}`: ")),
                    "{shown}"
                );
                (*kind, *line, *column, key.clone(), shown)
            }
            other => panic!("not a manifest error: {other}"),
        },
    }
}

const ECHO: &str = "[[components]]\nid = \"demo/echo/1\"\npath = \"echo.wasm\"\n";

#[test]
fn syntax_error() {
    let (kind, line, _, _, shown) = fail("[[components]]\nid = \"demo/echo/1\npath = 1\n");
    assert_eq!(kind, ManifestErrorKind::Syntax);
    assert_eq!(line, 2);
    assert!(shown.contains(FILE));
}

#[test]
fn unknown_key() {
    // In the second entry: the key names it by its index, as the checks after parsing do.
    let text = format!("{ECHO}{}colour = \"red\"\n", ECHO.replace("/1", "/2"));
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::UnknownKey);
    assert_eq!((line, column), (7, 1));
    assert_eq!(key, "components[1].colour");
    assert!(shown.contains("unknown field `colour`"), "{shown}");
}

#[test]
fn unknown_key_in_an_inline_table() {
    let text =
        format!("{ECHO}[components.capabilities]\nstorage = {{ read = true, wirte = true }}\n");
    let (kind, line, column, key, _) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::UnknownKey);
    assert_eq!((line, column), (5, 26));
    assert_eq!(key, "components[0].capabilities.storage.wirte");
}

#[test]
fn missing_key() {
    let text = format!("{ECHO}[[components]]\nid = \"demo/echo/2\"\n");
    let (kind, line, _, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::MissingKey);
    assert_eq!(line, 4);
    assert_eq!(key, "components[1].path");
    assert!(shown.contains("missing field `path`"), "{shown}");
}

#[test]
fn type_error() {
    let text = format!("{ECHO}mailbox = \"big\"\n");
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::Type);
    assert_eq!((line, column), (4, 11));
    assert_eq!(key, "components[0].mailbox");
    assert!(shown.contains("invalid type"), "{shown}");
}

#[test]
fn bad_enum_value() {
    let text = format!("{ECHO}restart = \"sometimes\"\n");
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidValue);
    assert_eq!((line, column), (4, 11));
    assert_eq!(key, "components[0].restart");
    assert!(shown.contains("sometimes"), "{shown}");
    assert!(shown.contains("permanent"), "{shown}");
}

#[test]
fn zero_is_not_a_limit() {
    let text = format!("{ECHO}[components.limits]\nmax_execution_time_ms = 0\n");
    let (kind, line, column, key, _) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidValue);
    assert_eq!((line, column), (5, 25));
    assert_eq!(key, "components[0].limits.max_execution_time_ms");
}

#[test]
fn malformed_component_id() {
    let (kind, line, column, key, shown) =
        fail("[[components]]\nid = \"demo/echo\"\npath = \"echo.wasm\"\n");
    assert_eq!(kind, ManifestErrorKind::InvalidId);
    assert_eq!((line, column), (2, 6));
    assert_eq!(key, "components[0].id");
    assert!(shown.contains("`demo/echo`"), "{shown}");
}

#[test]
fn pattern_that_cannot_match() {
    let text =
        format!("{ECHO}[components.capabilities.messaging]\nsend = [\"a/b/*\", \"a/b/c/d\"]\n");
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidPattern);
    assert_eq!((line, column), (5, 18));
    assert_eq!(key, "components[0].capabilities.messaging.send");
    assert!(shown.contains("`a/b/c/d`"), "{shown}");
    assert!(shown.contains("never match"), "{shown}");
}

#[test]
fn malformed_pattern() {
    let text = format!("{ECHO}[components.capabilities.messaging]\nrequest = [\"orders/led*\"]\n");
    let (kind, _, _, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidPattern);
    assert_eq!(key, "components[0].capabilities.messaging.request");
    assert!(shown.contains("`orders/led*`"), "{shown}");
}

#[test]
fn bad_network_host() {
    let text = format!("{ECHO}[components.capabilities.network]\nhosts = [\"example.com\"]\n");
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidValue);
    assert_eq!((line, column), (5, 10));
    assert_eq!(key, "components[0].capabilities.network.hosts");
    assert!(shown.contains("`example.com`"), "{shown}");
}

#[test]
fn duplicate_id() {
    let text = format!("{ECHO}{ECHO}");
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::Duplicate);
    assert_eq!((line, column), (5, 6));
    assert_eq!(key, "components[1].id");
    assert!(shown.contains("`demo/echo/1`"), "{shown}");
    assert!(shown.contains("line 2"), "{shown}");
}

#[test]
fn group_naming_an_unknown_component() {
    let text =
        format!("{ECHO}[[groups]]\nname = \"g\"\nmembers = [\"demo/echo/1\", \"demo/ghost/1\"]\n");
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::UnknownComponent);
    assert_eq!((line, column), (6, 27));
    assert_eq!(key, "groups[0].members");
    assert!(shown.contains("`demo/ghost/1`"), "{shown}");
}

#[test]
fn a_neighbour_must_be_a_component_of_the_manifest() {
    let text = format!("{ECHO}neighbour = \"demo/ghost/1\"\n");
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::UnknownComponent);
    assert_eq!((line, column), (4, 13));
    assert_eq!(key, "components[0].neighbour");
    assert!(shown.contains("`demo/ghost/1`"), "{shown}");
    let text = format!("{ECHO}neighbour = \"ghost\"\n");
    let (kind, _, _, key, _) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidId);
    assert_eq!(key, "components[0].neighbour");
    let both = format!(
        "{ECHO}{}neighbour = \"demo/echo/1\"\n[host]\nshards = 3\n",
        ECHO.replace("/1", "/2")
    );
    let manifest = Manifest::parse(&both, FILE).unwrap();
    assert_eq!(manifest.host().shards, Some(3));
    assert_eq!(
        manifest.components()[1].neighbour,
        Some("demo/echo/1".parse().unwrap())
    );
}

#[test]
fn shards_are_a_positive_count_of_threads_within_reason() {
    for (value, says) in [("0", "greater than 0"), ("1000", "more than 256")] {
        let (kind, line, column, key, shown) = fail(&format!("[host]\nshards = {value}\n"));
        assert_eq!(kind, ManifestErrorKind::InvalidValue);
        assert_eq!((line, column), (2, 10));
        assert_eq!(key, "host.shards");
        assert!(shown.contains(says), "{shown}");
    }
}

#[test]
fn component_in_two_groups() {
    let text = format!(
        "{ECHO}[[groups]]\nname = \"a\"\nmembers = [\"demo/echo/1\"]\n[[groups]]\nname = \"b\"\nmembers = [\"demo/echo/1\"]\n"
    );
    let (kind, line, column, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InTwoGroups);
    assert_eq!((line, column), (9, 12));
    assert_eq!(key, "groups[1].members");
    assert!(shown.contains("group `a`"), "{shown}");
}

#[test]
fn duplicate_group_and_bad_strategy() {
    let text = format!(
        "{ECHO}[[groups]]\nname = \"a\"\nstrategy = \"all-for-none\"\nmembers = [\"demo/echo/1\"]\n"
    );
    let (kind, line, _, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidValue);
    assert_eq!(line, 6);
    assert_eq!(key, "groups[0].strategy");
    assert!(shown.contains("all-for-none"), "{shown}");
}

#[test]
fn missing_wasm_file_is_found_by_check_not_parse() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("system.toml");
    std::fs::write(
        &path,
        "[[components]]\nid = \"demo/gone/1\"\npath = \"gone.wasm\"\n",
    )?;
    let manifest = Manifest::from_file(&path)?;
    let engine = WasmEngine::new(EngineConfig {
        pooling: None,
        ..EngineConfig::default()
    })?;
    let err = manifest.check(&engine).unwrap_err();
    let shown = err.to_string();
    match err {
        Error::Manifest {
            kind,
            line,
            column,
            key,
            file,
            ..
        } => {
            assert_eq!(kind, ManifestErrorKind::MissingFile);
            assert_eq!((line, column), (3, 8));
            assert_eq!(key, "components[0].path");
            assert_eq!(file, path);
            assert!(shown.contains("gone.wasm"), "{shown}");
            assert!(shown.contains(&path.display().to_string()), "{shown}");
        }
        other => panic!("not a manifest error: {other}"),
    }
    Ok(())
}

#[test]
fn a_file_that_is_not_a_component_is_named() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("system.toml");
    std::fs::write(dir.path().join("junk.wasm"), b"not wasm at all")?;
    std::fs::write(
        &path,
        "[[components]]\nid = \"demo/junk/1\"\npath = \"junk.wasm\"\n",
    )?;
    let engine = WasmEngine::new(EngineConfig {
        pooling: None,
        ..EngineConfig::default()
    })?;
    let err = Manifest::from_file(&path)?.check(&engine).unwrap_err();
    assert!(matches!(
        &err,
        Error::Manifest {
            kind: ManifestErrorKind::InvalidComponent,
            line: 3,
            column: 8,
            ..
        }
    ));
    assert!(err.to_string().contains("demo/junk/1"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    Ok(())
}

#[test]
fn a_missing_manifest_file_is_named() {
    let err = Manifest::from_file("/nonexistent/system.toml").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/system.toml"),
        "{err}"
    );
}

#[test]
fn cluster_section_errors_name_their_key() {
    let (kind, line, _, key, _) = fail(&format!(
        "{ECHO}[cluster]\nurl = \"nats://127.0.0.1:4222\"\nhost = \" \"\nname = \"orders\"\n"
    ));
    assert_eq!(
        (kind, line, key.as_str()),
        (ManifestErrorKind::InvalidValue, 6, "cluster.host")
    );
    let (kind, _, _, key, _) = fail(&format!(
        "{ECHO}[cluster]\nurl = []\nhost = \"a\"\nname = \"orders\"\n"
    ));
    assert_eq!(
        (kind, key.as_str()),
        (ManifestErrorKind::InvalidValue, "cluster.url")
    );
    let (kind, _, _, key, _) = fail(&format!(
        "{ECHO}[cluster]\nurl = \"nats://x:1\"\nhost = \"a\"\nname = \"o\"\nuser = \"u\"\n"
    ));
    assert_eq!(
        (kind, key.as_str()),
        (ManifestErrorKind::MissingKey, "cluster.user")
    );
    let (kind, line, _, key, _) = fail(&format!(
        "{ECHO}[cluster]\nurl = \"nats://x:1\"\nhost = \"a\"\nname = \"o\"\ntoken = \"t\"\nnkey = \"SU\"\n"
    ));
    assert_eq!(
        (kind, line, key.as_str()),
        (ManifestErrorKind::InvalidValue, 9, "cluster")
    );
    let (kind, _, _, _, _) = fail(&format!(
        "{ECHO}[cluster]\nurl = \"nats://x:1\"\nhost = \"a\"\nname = \"o\"\nheartbeat = 5\n"
    ));
    assert_eq!(kind, ManifestErrorKind::UnknownKey);
    // The lease replaced the heartbeat: the old key is named with its replacement.
    let (kind, line, _, key, message) = fail(&format!(
        "{ECHO}[cluster]\nurl = \"nats://x:1\"\nhost = \"a\"\nname = \"o\"\nheartbeat_ms = 250\n"
    ));
    assert_eq!(
        (kind, line, key.as_str()),
        (ManifestErrorKind::InvalidValue, 8, "cluster.heartbeat_ms")
    );
    assert!(message.contains("lease_ms"), "{message}");
    for (bad, key) in [
        ("lease_ms = 500", "cluster.lease_ms"),
        ("replicas = 7", "cluster.replicas"),
        ("credit_wait_ms = 0", "cluster.credit_wait_ms"),
        ("give_up_ms = 1000", "cluster.give_up_ms"),
    ] {
        let (kind, line, _, named, _) = fail(&format!(
            "{ECHO}[cluster]\nurl = \"nats://x:1\"\nhost = \"a\"\nname = \"o\"\n{bad}\n"
        ));
        assert_eq!(
            (kind, line, named.as_str()),
            (ManifestErrorKind::InvalidValue, 8, key)
        );
    }
    let manifest = Manifest::parse(
        &format!(
            "{ECHO}[cluster]\nurl = [\"nats://a:1\", \"nats://b:2\"]\nhost = \"edge-1\"\nname = \"orders\"\nlease_ms = 2500\nreplicas = 3\ncredit_wait_ms = 50\ncredentials = \"host.creds\"\n"
        ),
        FILE,
    )
    .unwrap();
    let cluster = manifest.cluster().unwrap();
    assert_eq!(cluster.urls, vec!["nats://a:1", "nats://b:2"]);
    assert_eq!(cluster.lease, std::time::Duration::from_millis(2500));
    assert_eq!(cluster.replicas, 3);
    assert_eq!(cluster.credit_wait, std::time::Duration::from_millis(50));
    assert_eq!(
        cluster.auth,
        wasm_host::ClusterAuth::CredentialsFile("/tmp/host.creds".into())
    );
}

#[test]
fn cluster_storage_without_a_cluster() {
    let text = format!("[host]\nstorage = \"cluster\"\n{ECHO}");
    let (kind, line, _, key, shown) = fail(&text);
    assert_eq!(kind, ManifestErrorKind::InvalidValue);
    assert_eq!(line, 2);
    assert_eq!(key, "host.storage");
    assert!(shown.contains("no `[cluster]` section"), "{shown}");
    // With a cluster it is accepted; a file of that name is `./cluster`.
    let with = format!(
        "[host]\nstorage = \"cluster\"\n[cluster]\nurl = \"nats://127.0.0.1:4222\"\nhost = \"edge-1\"\n{ECHO}"
    );
    let manifest = Manifest::parse(&with, FILE).unwrap();
    assert_eq!(
        manifest.host().storage,
        Some(wasm_host::StorageLocation::Cluster)
    );
    let file = Manifest::parse(&format!("[host]\nstorage = \"./cluster\"\n{ECHO}"), FILE).unwrap();
    assert!(matches!(
        file.host().storage,
        Some(wasm_host::StorageLocation::File(_))
    ));
}

#[test]
fn host_labels_and_pinned_digests_are_checked() {
    let text = "[[components]]\nid = \"demo/echo/1\"\npath = \"echo.wasm\"\nhosts = [\"zone\"]\n";
    let (kind, line, _, key, shown) = fail(text);
    assert_eq!(kind, ManifestErrorKind::InvalidValue);
    assert_eq!(line, 4);
    assert_eq!(key, "components[0].hosts");
    assert!(shown.contains("`zone` must be `key=value`"), "{shown}");
    let text = "[[components]]\nid = \"demo/echo/1\"\npath = \"echo.wasm\"\nsha256 = \"md5:00\"\n";
    let (kind, line, _, key, shown) = fail(text);
    assert_eq!(kind, ManifestErrorKind::InvalidValue);
    assert_eq!(line, 4);
    assert_eq!(key, "components[0].sha256");
    assert!(shown.contains("64 lower-case hex digits"), "{shown}");
    let text = "[[components]]\nid = \"demo/echo/1\"\npath = \"echo.wasm\"\n\n[[groups]]\nname = \"g\"\nmembers = [\"demo/echo/1\"]\nhosts = [\"a=b=c\"]\n";
    let (_, line, _, key, _) = fail(text);
    assert_eq!((line, key.as_str()), (8, "groups[0].hosts"));
    // Well formed, they are kept.
    let text = "[[components]]\nid = \"demo/echo/1\"\npath = \"echo.wasm\"\nhosts = [\"zone=a\", \"disk=ssd\"]\n";
    let manifest = Manifest::parse(text, FILE).unwrap();
    assert_eq!(manifest.components()[0].hosts, ["zone=a", "disk=ssd"]);
}
