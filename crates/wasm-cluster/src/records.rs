//! The values kept in the cluster's buckets, as `key=value` lines (readable with any NATS
//! tool): a host's lease record and a component's ownership record.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What the hosts bucket holds for a live host: which process holds the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostRecord {
    /// The process start (and, after a lease lost, the new start) that holds the name.
    pub(crate) incarnation: u64,
    /// Its lease, in milliseconds: it renews three times in this period.
    pub(crate) lease_ms: u64,
    /// Its process id.
    pub(crate) pid: u32,
    /// The machine it runs on.
    pub(crate) machine: String,
    /// When it took the name, in milliseconds since the Unix epoch.
    pub(crate) since_ms: u64,
    /// Its labels (`zone=a`), for placement.
    pub(crate) labels: BTreeMap<String, String>,
    /// It runs the components the cluster places on it (a host without a manifest).
    pub(crate) places: bool,
}

/// What the owners bucket holds for a running component: the host incarnation that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerRecord {
    pub(crate) host: String,
    pub(crate) incarnation: u64,
    /// The revision of the claim this record continues; 0 in the claim itself (its own
    /// revision is the epoch then).
    pub(crate) epoch: u64,
    /// The component's name and version, once its first instance ran.
    pub(crate) name: String,
    pub(crate) version: String,
}

impl OwnerRecord {
    /// The epoch of the claim: this record's own revision if it is the claim.
    pub(crate) fn epoch_at(&self, revision: u64) -> u64 {
        if self.epoch == 0 {
            revision
        } else {
            self.epoch
        }
    }
}

/// One line's value with line breaks folded away.
fn clean(value: &str) -> String {
    value.replace(['\n', '\r'], " ")
}

fn fields(bytes: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    std::str::from_utf8(bytes)
        .unwrap_or("")
        .lines()
        .filter_map(|line| line.split_once('='))
}

fn number<T: std::str::FromStr>(text: &str, key: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{key}` is not a number: {text:?}"))
}

impl HostRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        let _ = writeln!(out, "incarnation={:016x}", self.incarnation);
        let _ = writeln!(out, "lease_ms={}", self.lease_ms);
        let _ = writeln!(out, "pid={}", self.pid);
        let _ = writeln!(out, "machine={}", clean(&self.machine));
        let _ = writeln!(out, "since_ms={}", self.since_ms);
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{}={}", clean(k), clean(v)))
                .collect();
            let _ = writeln!(out, "labels={}", labels.join(","));
        }
        if self.places {
            let _ = writeln!(out, "places=1");
        }
        out.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut record = Self {
            incarnation: 0,
            lease_ms: 0,
            pid: 0,
            machine: String::new(),
            since_ms: 0,
            labels: BTreeMap::new(),
            places: false,
        };
        for (key, value) in fields(bytes) {
            match key {
                "incarnation" => {
                    record.incarnation = u64::from_str_radix(value, 16)
                        .map_err(|_| format!("`incarnation` is not hex: {value:?}"))?;
                }
                "lease_ms" => record.lease_ms = number(value, key)?,
                "pid" => record.pid = number(value, key)?,
                "machine" => record.machine = value.to_owned(),
                "since_ms" => record.since_ms = number(value, key)?,
                "labels" => {
                    record.labels = value
                        .split(',')
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                }
                "places" => record.places = value == "1",
                _ => {}
            }
        }
        if record.incarnation == 0 || record.lease_ms == 0 {
            return Err("a host record without its incarnation or lease".into());
        }
        Ok(record)
    }

    /// Who holds the name, for an error message.
    pub(crate) fn describe(&self) -> String {
        format!(
            "incarnation {:016x}, process {} on `{}`, holding it since {} ms after the Unix epoch, renewing a {} ms lease",
            self.incarnation, self.pid, self.machine, self.since_ms, self.lease_ms
        )
    }
}

impl OwnerRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        let _ = writeln!(out, "host={}", clean(&self.host));
        let _ = writeln!(out, "incarnation={:016x}", self.incarnation);
        let _ = writeln!(out, "epoch={}", self.epoch);
        if !self.name.is_empty() {
            let _ = writeln!(out, "name={}", clean(&self.name));
        }
        if !self.version.is_empty() {
            let _ = writeln!(out, "version={}", clean(&self.version));
        }
        out.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut record = Self {
            host: String::new(),
            incarnation: 0,
            epoch: 0,
            name: String::new(),
            version: String::new(),
        };
        for (key, value) in fields(bytes) {
            match key {
                "host" => record.host = value.to_owned(),
                "incarnation" => {
                    record.incarnation = u64::from_str_radix(value, 16)
                        .map_err(|_| format!("`incarnation` is not hex: {value:?}"))?;
                }
                "epoch" => record.epoch = number(value, key)?,
                "name" => record.name = value.to_owned(),
                "version" => record.version = value.to_owned(),
                _ => {}
            }
        }
        if record.host.is_empty() || record.incarnation == 0 {
            return Err("an ownership record without its host or incarnation".into());
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_are_named() {
        let host = HostRecord {
            incarnation: 0x1234_5678_9abc_def0,
            lease_ms: 3000,
            pid: 42,
            machine: "box\n1".into(),
            since_ms: 7,
            labels: [
                ("zone".to_owned(), "a".to_owned()),
                ("disk".to_owned(), "ssd".to_owned()),
            ]
            .into_iter()
            .collect(),
            places: true,
        };
        let back = HostRecord::decode(&host.encode()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.machine, "box 1");
        assert_eq!(back.incarnation, host.incarnation);
        assert_eq!(back.labels, host.labels);
        assert!(back.places);
        assert!(HostRecord::decode(b"lease_ms=3").is_err());
        let owner = OwnerRecord {
            host: "edge-1".into(),
            incarnation: 9,
            epoch: 0,
            name: "echo".into(),
            version: "0.1.0".into(),
        };
        let back = OwnerRecord::decode(&owner.encode()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, owner);
        assert_eq!(back.epoch_at(17), 17);
        let renamed = OwnerRecord { epoch: 17, ..owner };
        assert_eq!(renamed.epoch_at(21), 17);
        let error = OwnerRecord::decode(b"host=x\nincarnation=zz")
            .err()
            .unwrap_or_default();
        assert!(error.contains("incarnation"), "{error}");
    }
}
