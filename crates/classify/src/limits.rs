//! Named limits of classification. Every loop over input is bounded by one of these.

/// Bytes of a part looked at to decide whether it is text and what text it is.
pub const TEXT_SNIFF_BYTES: usize = 64 * 1024;

/// Bytes of a text part scanned for DDE formulas and field codes (CSV, SYLK, XML).
pub const TEXT_SCAN_BYTES: usize = 16 * 1024 * 1024;

/// Entries of an OLE compound file looked at.
pub const MAX_OLE_ENTRIES: usize = 10_000;

/// Bytes read from one OLE stream.
pub const MAX_OLE_STREAM: u64 = 64 * 1024 * 1024;

/// Members of a zip looked at.
pub const MAX_ZIP_ENTRIES: usize = 20_000;

/// Bytes decompressed from one zip member.
pub const MAX_ZIP_MEMBER: u64 = 32 * 1024 * 1024;

/// Bytes decompressed from all zip members of one part together.
pub const MAX_ZIP_TOTAL: u64 = 128 * 1024 * 1024;

/// Bytes of decompressed VBA source or `dir` stream per module.
pub const MAX_VBA_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// VBA modules looked at per project.
pub const MAX_VBA_MODULES: usize = 2_000;

/// Bytes of VBA source decompressed per project, all modules together.
pub const MAX_VBA_PROJECT: usize = 64 * 1024 * 1024;

/// VBA projects (storages) looked at per OLE file.
pub const MAX_VBA_PROJECTS: usize = 64;

/// Nested OLE storages (PowerPoint `ExOleObjStg`) opened per part.
pub const MAX_NESTED_STORAGES: usize = 64;

/// Bytes inflated from nested PowerPoint storages per part, all together.
pub const MAX_NESTED_TOTAL: u64 = 256 * 1024 * 1024;

/// Records walked in one binary record stream (BIFF, PowerPoint, XLSB, VBA `dir`).
pub const MAX_RECORDS: usize = 2_000_000;

/// Depth of containers inside one part opened here (an OLE file in a zip, a PowerPoint
/// VBA storage in an OLE file, ...).
pub const MAX_NESTING: usize = 3;

/// Notes kept per detection.
pub const MAX_NOTES: usize = 64;
