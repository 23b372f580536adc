//! What a scanner found (a leaf: scanners and their errors both carry detections).

/// One detection: which engine, and its name for what it found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Detection {
    /// The engine, e.g. `clamd`.
    pub engine: String,
    /// The engine's name for it, e.g. `Eicar-Signature`.
    pub name: String,
}
