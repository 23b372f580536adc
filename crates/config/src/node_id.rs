//! What a node id is (`server.node_id`, and what the daemon keeps in `DATA_DIR/node-id`): the
//! name under which a daemon queues its notification runs in the quarantine store.

/// Longest node id (the store's column takes 255).
pub const MAX_NODE_ID_LEN: usize = 64;

/// A node id: 1 to [`MAX_NODE_ID_LEN`] ASCII letters, digits, `.`, `_` or `-`.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_NODE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
