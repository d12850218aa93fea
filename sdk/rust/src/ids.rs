//! Component ids in their text form, `namespace/name/instance`.

use crate::ComponentId;

/// Parses `namespace/name/instance`; `None` unless there are exactly three non-empty
/// segments.
pub fn parse_id(text: &str) -> Option<ComponentId> {
    let mut parts = text.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(namespace), Some(name), Some(instance), None)
            if !namespace.is_empty() && !name.is_empty() && !instance.is_empty() =>
        {
            Some(ComponentId {
                namespace: namespace.into(),
                name: name.into(),
                instance: instance.into(),
            })
        }
        _ => None,
    }
}

/// The text form of an id.
pub fn id_text(id: &ComponentId) -> String {
    format!("{}/{}/{}", id.namespace, id.name, id.instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_malformed_ones_are_refused() {
        let id = parse_id("orders/ledger/1").unwrap_or_else(|| panic!("a valid id"));
        assert_eq!(id_text(&id), "orders/ledger/1");
        for bad in ["orders/ledger", "a/b/c/d", "a//c", ""] {
            assert!(parse_id(bad).is_none(), "{bad}");
        }
    }
}
