//! The records of a component's storage subject: a snapshot (its whole storage, written when
//! a host takes it and now and then after), or one call's write set. Binary: `AS1`, the kind,
//! the writer's epoch, the number of entries, then each key with its value or a delete.

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One call's writes, on top of what came before.
    WriteSet,
    /// The whole storage: what came before no longer counts.
    Snapshot,
}

/// One record, read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) kind: Kind,
    /// The epoch of the owner that wrote it.
    pub(crate) epoch: u64,
    /// Keys with their new value, or `None` where the key is removed.
    pub(crate) entries: Vec<(String, Option<Vec<u8>>)>,
}

const MAGIC: &[u8; 3] = b"AS1";

/// Encodes a record of `kind` from `entries`.
pub(crate) fn encode<'a>(
    kind: Kind,
    epoch: u64,
    entries: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(match kind {
        Kind::WriteSet => 0,
        Kind::Snapshot => 1,
    });
    out.extend_from_slice(&epoch.to_be_bytes());
    // The count goes here once the entries are written.
    let count_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut count: u32 = 0;
    for (key, value) in entries {
        count = count.saturating_add(1);
        put_bytes(&mut out, key.as_bytes());
        match value {
            Some(value) => {
                out.push(1);
                put_bytes(&mut out, value);
            }
            None => out.push(0),
        }
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_be_bytes());
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a record back.
///
/// # Errors
///
/// What is wrong with bytes [`encode`] did not make.
pub(crate) fn decode(bytes: &[u8]) -> Result<Record, String> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(3)? != MAGIC {
        return Err("not a storage record".into());
    }
    let kind = match reader.take(1)?[0] {
        0 => Kind::WriteSet,
        1 => Kind::Snapshot,
        other => return Err(format!("unknown record kind {other}")),
    };
    let epoch = u64::from_be_bytes(reader.array()?);
    let count = u32::from_be_bytes(reader.array()?);
    let mut entries = Vec::new();
    for _ in 0..count {
        let key = String::from_utf8(reader.sized()?.to_vec())
            .map_err(|_| "a key that is not UTF-8".to_owned())?;
        let value = match reader.take(1)?[0] {
            0 => None,
            _ => Some(reader.sized()?.to_vec()),
        };
        entries.push((key, value));
    }
    if reader.at != bytes.len() {
        return Err("trailing bytes after the last entry".into());
    }
    Ok(Record {
        kind,
        epoch,
        entries,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| "a record cut short".to_owned())?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn sized(&mut self) -> Result<&'a [u8], String> {
        let len = u32::from_be_bytes(self.array()?);
        self.take(usize::try_from(len).map_err(|_| "a length past this machine".to_owned())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_broken_ones_are_refused() {
        let entries = [
            ("count", Some(&b"41"[..])),
            ("gone", None),
            ("", Some(&b""[..])),
        ];
        let bytes = encode(Kind::WriteSet, 7, entries.iter().copied());
        let record = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.kind, Kind::WriteSet);
        assert_eq!(record.epoch, 7);
        assert_eq!(
            record.entries,
            vec![
                ("count".to_owned(), Some(b"41".to_vec())),
                ("gone".to_owned(), None),
                (String::new(), Some(Vec::new())),
            ]
        );
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let snapshot = encode(Kind::Snapshot, 1, std::iter::empty());
        assert_eq!(decode(&snapshot).map(|r| r.kind), Ok(Kind::Snapshot));
    }
}
