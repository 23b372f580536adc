//! The shared vocabulary of quarantd.
//!
//! Every other crate speaks in these types: the [`Envelope`] a message arrived with, the
//! [`Part`]s the decomposition finds, the [`Label`]s and [`Finding`]s that classification and
//! scanning attach, and the [`Verdict`] the policy reaches. The pipeline's stages are typed by
//! [`stage`]: each stage takes the previous stage's output and returns its own. What the
//! quarantine keeps of a message, and the seam the pipeline hands it through, are in
//! [`hold`].
//!
//! This crate does no I/O and depends on no runtime, database or protocol crate.

pub mod envelope;
pub mod headers;
pub mod hold;
pub mod id;
pub mod part;
pub mod stage;
pub mod verdict;

pub use envelope::{BodyType, Envelope, MailParams, Notify, Recipient, Ret, XForward};
pub use hold::{BoxError, Held, HeldKind, Hold, HoldError, HoldFuture};
pub use part::{Label, Part, PartPath};
pub use stage::{Classified, Committed, Decomposed, PartData, Scanned};
pub use verdict::{Action, Finding, Verdict};

/// SHA-256 of `bytes` as lower-case hex: the hash of parts, messages and signatures
/// everywhere in quarantd.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}
