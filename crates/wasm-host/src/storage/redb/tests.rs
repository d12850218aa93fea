use wasm_core::StorageTxn;

use super::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// One call that writes `key` = `value`, committed on the writer thread.
fn set(
    store: &RedbStorage,
    ns: &ComponentId,
    key: &str,
    value: &[u8],
    q: &StorageQuota,
) -> std::result::Result<(), StorageError> {
    let mut txn = StorageTxn::new(ns.clone());
    txn.set(store, key, value, q)?;
    block_on(store.commit(txn.into_writes()))
}

/// One call that deletes `key`.
fn delete(
    store: &RedbStorage,
    ns: &ComponentId,
    key: &str,
) -> std::result::Result<(), StorageError> {
    let mut txn = StorageTxn::new(ns.clone());
    txn.delete(store, key)?;
    if txn.is_empty() {
        return Ok(());
    }
    block_on(store.commit(txn.into_writes()))
}

fn block_on(commit: CommitFuture) -> std::result::Result<(), StorageError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| io("runtime", e))?
        .block_on(commit)
}

fn quota(max_bytes: u64, max_keys: u64) -> StorageQuota {
    StorageQuota {
        max_bytes,
        max_keys,
    }
}

#[test]
fn data_and_usage_survive_reopening() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nested/store.redb");
    let a = id("t/a/1");
    let q = StorageQuota::default();
    let store = RedbStorage::open(&path)?;
    set(&store, &a, "k1", b"one", &q)?;
    set(&store, &a, "k2", b"two", &q)?;
    store.close()?;
    assert!(store.is_closed());
    assert!(matches!(store.get(&a, "k1"), Err(StorageError::IoError(m)) if m.contains("closed")));

    let store = RedbStorage::open(&path)?;
    assert_eq!(store.get(&a, "k1")?, Some(b"one".to_vec()));
    assert_eq!(store.list_keys(&a, None)?, vec!["k1", "k2"]);
    let usage = store.usage(&a, &q)?;
    assert_eq!((usage.used_bytes, usage.key_count), (10, 2));
    Ok(())
}

#[test]
fn commits_queued_together_share_one_transaction_and_close_finishes_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("g.redb");
    let store = RedbStorage::open(&path)?;
    let q = StorageQuota::default();
    // 200 calls of 200 components queue their writes before anyone waits.
    let mut pending = Vec::new();
    for n in 0..200 {
        let ns = id(&format!("t/c{n}/1"));
        let mut txn = StorageTxn::new(ns);
        txn.set(&store, "a", format!("{n}").as_bytes(), &q)?;
        txn.set(&store, "b", format!("{n}").as_bytes(), &q)?;
        pending.push(store.commit(txn.into_writes()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    for commit in pending {
        runtime.block_on(commit)?;
    }
    let stats = store.commit_stats();
    assert_eq!(stats.write_sets, 200);
    assert!(stats.transactions < 200, "{stats:?}");
    // Queued and not awaited: close still commits it.
    let mut txn = StorageTxn::new(id("t/late/1"));
    txn.set(&store, "k", b"v", &q)?;
    drop(store.commit(txn.into_writes()));
    store.close()?;
    let store = RedbStorage::open_with(&path, RedbOptions { max_batch: 1 })?;
    for n in [0, 199] {
        let ns = id(&format!("t/c{n}/1"));
        assert_eq!(store.list_keys(&ns, None)?, vec!["a", "b"]);
        assert_eq!(store.usage(&ns, &q)?.key_count, 2);
    }
    assert_eq!(store.get(&id("t/late/1"), "k")?, Some(b"v".to_vec()));
    let refused = {
        store.close()?;
        let mut txn = StorageTxn::new(id("t/x/1"));
        txn.set(&store, "k", b"v", &q)
    };
    assert!(matches!(refused, Err(StorageError::IoError(m)) if m.contains("closed")));
    Ok(())
}

#[test]
fn without_group_commit_each_call_is_one_transaction() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = RedbStorage::open_with(dir.path().join("b.redb"), RedbOptions { max_batch: 1 })?;
    let q = StorageQuota::default();
    let mut pending = Vec::new();
    for n in 0..20 {
        let mut txn = StorageTxn::new(id(&format!("t/c{n}/1")));
        txn.set(&store, "a", b"1", &q)?;
        pending.push(store.commit(txn.into_writes()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    for commit in pending {
        runtime.block_on(commit)?;
    }
    assert_eq!(
        store.commit_stats(),
        CommitStats {
            transactions: 20,
            write_sets: 20
        }
    );
    Ok(())
}

#[test]
fn a_second_open_of_the_same_file_is_refused_until_closed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s.redb");
    let first = RedbStorage::open(&path)?;
    let err = RedbStorage::open(&path)
        .err()
        .ok_or("second open succeeded")?;
    assert!(err.to_string().contains("s.redb"), "{err}");
    first.close()?;
    RedbStorage::open(&path)?.close()?;
    Ok(())
}

#[test]
fn usage_follows_overwrites_and_deletes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = RedbStorage::open(dir.path().join("u.redb"))?;
    let a = id("t/a/1");
    let q = StorageQuota::default();
    set(&store, &a, "key", b"12345", &q)?; // 8
    set(&store, &a, "key", b"12", &q)?; // replaced: 5
    set(&store, &a, "other", b"x", &q)?; // +6
    let u = store.usage(&a, &q)?;
    assert_eq!(
        (u.used_bytes, u.key_count, u.quota_bytes),
        (11, 2, q.max_bytes)
    );
    delete(&store, &a, "key")?;
    delete(&store, &a, "absent")?;
    let u = store.usage(&a, &q)?;
    assert_eq!((u.used_bytes, u.key_count), (6, 1));
    delete(&store, &a, "other")?;
    assert_eq!(
        store.usage(&a, &q)?,
        StorageUsage {
            quota_bytes: q.max_bytes,
            ..Default::default()
        }
    );
    assert!(!store.exists(&a, "other")?);
    Ok(())
}

#[test]
fn quotas_refuse_without_writing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = RedbStorage::open(dir.path().join("q.redb"))?;
    let a = id("t/a/1");
    let q = quota(10, 2);
    set(&store, &a, "k1", b"12345678", &q)?;
    assert_eq!(
        set(&store, &a, "k2", b"1", &q),
        Err(StorageError::QuotaExceeded)
    );
    assert_eq!(store.get(&a, "k2")?, None);
    assert_eq!(store.usage(&a, &q)?.used_bytes, 10);
    set(&store, &a, "k1", b"abcdefgh", &q)?;
    let small = quota(100, 1);
    let b = id("t/b/1");
    set(&store, &b, "only", b"", &small)?;
    assert_eq!(
        set(&store, &b, "second", b"", &small),
        Err(StorageError::QuotaExceeded)
    );
    assert_eq!(store.list_keys(&b, None)?, vec!["only"]);
    Ok(())
}

#[test]
fn namespaces_are_isolated_and_prefixes_stay_inside_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = RedbStorage::open(dir.path().join("n.redb"))?;
    let q = StorageQuota::default();
    // `t/a/1` and `t/a/10` share a textual prefix: listings must not mix them.
    let (a, a10, b) = (id("t/a/1"), id("t/a/10"), id("t/b/1"));
    set(&store, &a, "user/1", b"x", &q)?;
    set(&store, &a, "user/2", b"y", &q)?;
    set(&store, &a, "zeta", b"z", &q)?;
    set(&store, &a10, "user/9", b"w", &q)?;
    assert_eq!(
        store.list_keys(&a, Some("user/"))?,
        vec!["user/1", "user/2"]
    );
    assert_eq!(store.list_keys(&a, None)?, vec!["user/1", "user/2", "zeta"]);
    assert_eq!(store.list_keys(&a10, None)?, vec!["user/9"]);
    assert!(store.list_keys(&b, None)?.is_empty());
    assert_eq!(store.get(&b, "user/1")?, None);
    assert_eq!(store.usage(&b, &q)?.key_count, 0);
    Ok(())
}

#[test]
fn keys_are_validated() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = RedbStorage::open(dir.path().join("k.redb"))?;
    let a = id("t/a/1");
    let q = StorageQuota::default();
    for bad in [String::new(), "k".repeat(1025), "a\nb".to_owned()] {
        assert!(matches!(
            set(&store, &a, &bad, b"v", &q),
            Err(StorageError::InvalidKey(_))
        ));
        assert!(matches!(
            store.get(&a, &bad),
            Err(StorageError::InvalidKey(_))
        ));
        assert!(matches!(
            delete(&store, &a, &bad),
            Err(StorageError::InvalidKey(_))
        ));
    }
    assert!(store.list_keys(&a, None)?.is_empty());
    Ok(())
}
