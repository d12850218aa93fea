//! What the order-pipeline components share beyond the guest SDK (`airssys-guest`,
//! re-exported whole): the text format of the pipeline's messages.
//!
//! Messages are one line of text: a verb, then `key=value` words, for example
//! `order id=o-1 customer=alice sku=widget qty=3`. No serde: a plug-in author can read every
//! payload in a log.

pub use airssys_guest::*;

/// The first word of a message.
pub fn verb(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// The value of `key=value` in a message (after its verb) or in a reply (which has no verb,
/// for example `cents=750`), if present.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A numeric field.
pub fn number(line: &str, key: &str) -> Option<u64> {
    field(line, key).and_then(|v| v.parse().ok())
}

/// An id from its text form `namespace/name/instance` (a malformed one is refused by the host
/// when used).
pub fn id(text: &str) -> ComponentId {
    let mut parts = text.splitn(3, '/');
    ComponentId {
        namespace: parts.next().unwrap_or("").into(),
        name: parts.next().unwrap_or("").into(),
        instance: parts.next().unwrap_or("").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_after_the_verb() {
        let line = "order id=o-1 customer=alice sku=widget qty=3";
        assert_eq!(verb(line), "order");
        assert_eq!(field(line, "sku"), Some("widget"));
        assert_eq!(number(line, "qty"), Some(3));
        assert_eq!(field(line, "price"), None);
    }

    #[test]
    fn fields_are_read_from_a_reply_without_a_verb() {
        assert_eq!(number("cents=750", "cents"), Some(750));
        assert_eq!(
            number("orders=8 total-cents=35823", "total-cents"),
            Some(35823)
        );
    }
}
