//! The typed inputs and outputs of the pipeline's stages.
//!
//! ```text
//! raw bytes ─decompose─► Decomposed ─classify─► Classified ─scan─► Scanned ─decide─► Verdict ─commit─► Committed
//! ```

use crate::part::Part;
use crate::verdict::{Action, Finding, Verdict};

/// One part and its decoded content, as the decomposition found it.
#[derive(Debug, Clone)]
pub struct PartData {
    /// What is known about the part.
    pub part: Part,
    /// The decoded content (empty for containers such as multipart bodies).
    pub content: Vec<u8>,
}

/// Output of `decompose`: every part of the message, parents before children.
#[derive(Debug, Clone, Default)]
pub struct Decomposed {
    /// The parts in tree order.
    pub parts: Vec<PartData>,
}

/// Output of `classify`: the parts with their detected types and labels.
#[derive(Debug, Clone, Default)]
pub struct Classified {
    /// The parts in tree order, labelled.
    pub parts: Vec<PartData>,
}

impl Classified {
    /// The part metadata without content.
    pub fn part_list(&self) -> Vec<Part> {
        self.parts.iter().map(|p| p.part.clone()).collect()
    }
}

/// Output of `scan`: the classified parts plus what scanners found.
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    /// The classified parts.
    pub classified: Classified,
    /// Scanner findings (viruses, own signatures).
    pub findings: Vec<Finding>,
}

/// Output of `commit`: what was done with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The verdict that was carried out.
    pub verdict: Verdict,
    /// The action actually taken (differs from the verdict's when carrying it out failed,
    /// e.g. `Tempfail` when downstream was unreachable).
    pub outcome: Action,
}
