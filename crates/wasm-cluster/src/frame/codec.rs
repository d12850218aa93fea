//! The primitives of the wire form: LEB128 varints, fixed little-endian integers, and
//! length-prefixed bytes and text. A reader names the field it could not read.

/// Appends to a buffer.
pub(crate) trait Put {
    fn put_u8(&mut self, value: u8);
    fn put_varint(&mut self, value: u64);
    fn put_u32(&mut self, value: u32);
    fn put_u64(&mut self, value: u64);
    fn put_bytes(&mut self, value: &[u8]);
    fn put_str(&mut self, value: &str) {
        self.put_bytes(value.as_bytes());
    }
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, value: u8) {
        self.push(value);
    }

    fn put_varint(&mut self, mut value: u64) {
        loop {
            let low = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.push(low);
                return;
            }
            self.push(low | 0x80);
        }
    }

    fn put_u32(&mut self, value: u32) {
        self.extend_from_slice(&value.to_le_bytes());
    }

    fn put_u64(&mut self, value: u64) {
        self.extend_from_slice(&value.to_le_bytes());
    }

    fn put_bytes(&mut self, value: &[u8]) {
        self.put_varint(value.len() as u64);
        self.extend_from_slice(value);
    }
}

/// Reads from a slice, front to back.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

/// Why a frame could not be read: the field, and what was wrong.
pub(crate) type ReadError = String;

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], ReadError> {
        if self.bytes.len() < n {
            return Err(format!(
                "`{field}` is cut short: {n} bytes wanted, {} left",
                self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8, ReadError> {
        Ok(self.take(1, field)?[0])
    }

    pub(crate) fn varint(&mut self, field: &str) -> Result<u64, ReadError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(field)?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("`{field}` is a varint longer than 64 bits"))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, ReadError> {
        let bytes = self.take(4, field)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, ReadError> {
        let bytes = self.take(8, field)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    pub(crate) fn bytes(&mut self, field: &str) -> Result<&'a [u8], ReadError> {
        let len = self.varint(field)?;
        let len = usize::try_from(len).map_err(|_| format!("`{field}` is too long"))?;
        self.take(len, field)
    }

    pub(crate) fn str(&mut self, field: &str) -> Result<&'a str, ReadError> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| format!("`{field}` is not UTF-8"))
    }

    /// A length-prefixed (u32) sub-reader: one frame of a bundle.
    pub(crate) fn frame(&mut self) -> Result<Reader<'a>, ReadError> {
        let len = self.u32("frame length")?;
        let len = usize::try_from(len).map_err(|_| "a frame longer than memory".to_owned())?;
        Ok(Reader::new(self.take(len, "frame")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip_and_short_input_is_named() {
        let mut out = Vec::new();
        for n in [0, 1, 127, 128, 300, u64::MAX] {
            out.put_varint(n);
        }
        out.put_u32(7);
        out.put_u64(u64::MAX - 1);
        out.put_str("héllo");
        let mut reader = Reader::new(&out);
        for n in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(reader.varint("n"), Ok(n));
        }
        assert_eq!(reader.u32("a"), Ok(7));
        assert_eq!(reader.u64("b"), Ok(u64::MAX - 1));
        assert_eq!(reader.str("c"), Ok("héllo"));
        assert!(reader.is_empty());
        let error = Reader::new(&[5, b'a'])
            .str("name")
            .err()
            .unwrap_or_default();
        assert!(error.contains("`name` is cut short"), "{error}");
        let error = Reader::new(&[0xff; 11])
            .varint("n")
            .err()
            .unwrap_or_default();
        assert!(error.contains("longer than 64 bits"), "{error}");
    }
}
