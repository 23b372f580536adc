//! FAT12/16/32 disk images (floppies) with `fatfs`, on a copy in memory.
//!
//! `fatfs` follows cluster chains without loop detection and skips deleted directory
//! entries without yielding, so a chain that points back at itself would keep it busy for
//! ever. [`check`] therefore walks the allocation table and the directory tree first, in
//! time linear in the image: it refuses a table with a loop, a directory whose clusters are
//! shared with another (or itself), and more directory entries than a part may have; only
//! an image that passes is handed to `fatfs`, whose walk is then bounded by the same tree.

use std::io::Cursor;

use crate::formats::{le16, le32};
use crate::formats::{Container, Failure, Member, Sink};

/// Deepest directory followed.
const MAX_DIR_DEPTH: usize = 16;

/// Most directory entries (files and directories, live or deleted) looked at per image.
const MAX_ENTRIES: usize = 200_000;

/// Size of one directory entry.
const ENTRY: usize = 32;

type Dir<'a> = fatfs::Dir<'a, Cursor<Vec<u8>>>;

pub(crate) fn open(w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
    let Some(layout) = Layout::read(data) else {
        return Err(Failure::corrupt(
            "fat",
            "the boot sector describes no usable layout",
        ));
    };
    check(w, cx, data, &layout)?;
    let disk = Cursor::new(data.to_vec());
    let fs = fatfs::FileSystem::new(disk, fatfs::FsOptions::new())
        .map_err(|e| Failure::corrupt("fat", e))?;
    let root = fs.root_dir();
    let result = walk(w, cx, &root, "", 0);
    drop(root);
    result
}

fn walk(
    w: &mut impl Sink,
    cx: &Container,
    dir: &Dir<'_>,
    prefix: &str,
    depth: usize,
) -> Result<(), Failure> {
    if depth > MAX_DIR_DEPTH {
        return Err(Failure::corrupt("fat", "directories nested too deep"));
    }
    for entry in dir.iter() {
        w.step(cx)?;
        let entry = entry.map_err(|e| Failure::corrupt("fat", e))?;
        let name = entry.file_name();
        if name == "." || name == ".." {
            continue;
        }
        let path = format!("{prefix}{name}");
        if entry.is_dir() {
            walk(w, cx, &entry.to_dir(), &format!("{path}/"), depth + 1)?;
        } else {
            let size = entry.len();
            let out = w.unpack(entry.to_file(), size, size);
            w.member(cx, Member::unpacked(path, out))?;
        }
    }
    Ok(())
}

/// The geometry of a FAT image, from its boot sector.
#[derive(Debug)]
struct Layout {
    bytes_per_sector: usize,
    sectors_per_cluster: usize,
    /// Byte offset of the first allocation table.
    fat_at: usize,
    /// Bytes per table entry, in eighths: 12, 16 or 32 bits.
    bits: u32,
    /// Number of data clusters (cluster numbers run from 2 to `clusters + 1`).
    clusters: usize,
    /// Byte offset of cluster 2.
    data_at: usize,
    /// FAT12/16: the fixed root directory region (offset, entries); FAT32: `None`.
    fixed_root: Option<(usize, usize)>,
    /// FAT32: the root directory's first cluster.
    root_cluster: usize,
}

impl Layout {
    /// The layout, when the boot sector describes one `fatfs` can compute with: only such
    /// images reach it (its arithmetic on the geometry is unchecked).
    fn read(data: &[u8]) -> Option<Layout> {
        let bytes_per_sector = usize::from(le16(data, 11)?);
        let sectors_per_cluster = usize::from(*data.get(13)?);
        let reserved = usize::from(le16(data, 14)?);
        let fats = usize::from(*data.get(16)?);
        let root_entries = usize::from(le16(data, 17)?);
        let fat_size = match le16(data, 22)? {
            0 => le32(data, 36)? as usize,
            n => usize::from(n),
        };
        let total = match le16(data, 19)? {
            0 => le32(data, 32)? as usize,
            n => usize::from(n),
        };
        let sane = matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
            && sectors_per_cluster.is_power_of_two()
            && sectors_per_cluster <= 128
            && reserved > 0
            && fats > 0
            && fat_size > 0;
        if !sane {
            return None;
        }
        let root_sectors = (root_entries * ENTRY).div_ceil(bytes_per_sector);
        let first_data = reserved + fats * fat_size + root_sectors;
        let clusters = total.checked_sub(first_data)? / sectors_per_cluster;
        let bits = match clusters {
            0..4085 => 12,
            4085..65525 => 16,
            _ => 32,
        };
        let fixed_root = (bits != 32).then(|| {
            let at = (reserved + fats * fat_size) * bytes_per_sector;
            (at, root_entries)
        });
        // The type follows the declared count (as in `fatfs`); the clusters looked at are
        // those the image and its table can hold, so a boot sector claiming four billion
        // clusters costs nothing.
        let data_at = first_data * bytes_per_sector;
        let in_image =
            data.len().saturating_sub(data_at) / (bytes_per_sector * sectors_per_cluster);
        let in_table = fat_size * bytes_per_sector * 8 / bits as usize;
        let clusters = clusters.min(in_image + 1).min(in_table.saturating_sub(2));
        Some(Layout {
            bytes_per_sector,
            sectors_per_cluster,
            fat_at: reserved * bytes_per_sector,
            bits,
            clusters,
            data_at,
            fixed_root,
            root_cluster: le32(data, 44).map_or(0, |c| (c & 0x0fff_ffff) as usize),
        })
    }

    fn cluster_bytes(&self) -> usize {
        self.bytes_per_sector * self.sectors_per_cluster
    }

    fn is_cluster(&self, n: usize) -> bool {
        (2..self.clusters + 2).contains(&n)
    }

    /// The table's entry for cluster `n`: the next cluster of its chain, when there is
    /// one (end of chain, free, bad and out-of-range values all end it).
    fn next(&self, data: &[u8], n: usize) -> Option<usize> {
        let value = match self.bits {
            12 => {
                let raw = usize::from(le16(data, self.fat_at + n + n / 2)?);
                if !n.is_multiple_of(2) {
                    raw >> 4
                } else {
                    raw & 0xfff
                }
            }
            16 => usize::from(le16(data, self.fat_at + 2 * n)?),
            _ => (le32(data, self.fat_at + 4 * n)? & 0x0fff_ffff) as usize,
        };
        self.is_cluster(value).then_some(value)
    }

    /// The bytes of cluster `n` (fewer, or none, when the image is cut short).
    fn cluster<'d>(&self, data: &'d [u8], n: usize) -> &'d [u8] {
        let size = self.cluster_bytes();
        let at = self.data_at + (n - 2) * size;
        data.get(at..)
            .map_or(&[][..], |rest| &rest[..rest.len().min(size)])
    }
}

/// Refuses what would make `fatfs` loop: a loop in the allocation table, directories
/// sharing clusters (a subdirectory that is its own parent or ancestor), too many entries.
fn check(w: &mut impl Sink, cx: &Container, data: &[u8], layout: &Layout) -> Result<(), Failure> {
    if let Some(cluster) = table_loop(w, cx, data, layout)? {
        return Err(Failure::corrupt(
            "fat",
            format!("the cluster chain through cluster {cluster} loops"),
        ));
    }
    Tree::new(layout).check(w, cx, data)
}

/// A cluster on a loop of the allocation table, if there is one. Each cluster is visited
/// once: the table is a function from cluster to next cluster, walked path by path.
fn table_loop(
    w: &mut impl Sink,
    cx: &Container,
    data: &[u8],
    layout: &Layout,
) -> Result<Option<usize>, Failure> {
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; layout.clusters + 2];
    let mut path = Vec::new();
    for start in 2..layout.clusters + 2 {
        let mut at = Some(start);
        while let Some(n) = at.filter(|&n| state[n] == NEW) {
            w.step(cx)?;
            state[n] = ON_PATH;
            path.push(n);
            at = layout.next(data, n);
        }
        if let Some(n) = at.filter(|&n| state[n] == ON_PATH) {
            return Ok(Some(n));
        }
        for n in path.drain(..) {
            state[n] = DONE;
        }
    }
    Ok(None)
}

/// The directory walk of [`check`]: every directory cluster at most once.
struct Tree<'l> {
    layout: &'l Layout,
    seen: Vec<bool>,
    entries: usize,
}

impl<'l> Tree<'l> {
    fn new(layout: &'l Layout) -> Self {
        Tree {
            layout,
            seen: vec![false; layout.clusters + 2],
            entries: 0,
        }
    }

    fn check(&mut self, w: &mut impl Sink, cx: &Container, data: &[u8]) -> Result<(), Failure> {
        let subdirs = match self.layout.fixed_root {
            Some((at, count)) => {
                let end = at.saturating_add(count * ENTRY).min(data.len());
                self.entries(w, cx, data.get(at..end).unwrap_or(&[]))?.0
            }
            None => self.chain(w, cx, data, self.layout.root_cluster)?,
        };
        let mut pending: Vec<(usize, usize)> = subdirs.into_iter().map(|c| (c, 1)).collect();
        while let Some((cluster, depth)) = pending.pop() {
            if depth > MAX_DIR_DEPTH {
                return Err(Failure::corrupt("fat", "directories nested too deep"));
            }
            let subdirs = self.chain(w, cx, data, cluster)?;
            pending.extend(subdirs.into_iter().map(|c| (c, depth + 1)));
        }
        Ok(())
    }

    /// The subdirectories of the directory starting at `first`.
    fn chain(
        &mut self,
        w: &mut impl Sink,
        cx: &Container,
        data: &[u8],
        first: usize,
    ) -> Result<Vec<usize>, Failure> {
        if !self.layout.is_cluster(first) {
            return Err(Failure::corrupt(
                "fat",
                format!("a directory starts at cluster {first}, outside the data area"),
            ));
        }
        let mut subdirs = Vec::new();
        let mut at = Some(first);
        while let Some(n) = at {
            if std::mem::replace(&mut self.seen[n], true) {
                return Err(Failure::corrupt(
                    "fat",
                    format!("directory cluster {n} is used twice"),
                ));
            }
            let (found, ended) = self.entries(w, cx, self.layout.cluster(data, n))?;
            subdirs.extend(found);
            if ended {
                break;
            }
            at = self.layout.next(data, n);
        }
        Ok(subdirs)
    }

    /// The subdirectories among the entries in `bytes`, and whether the end-of-directory
    /// mark was among them.
    fn entries(
        &mut self,
        w: &mut impl Sink,
        cx: &Container,
        bytes: &[u8],
    ) -> Result<(Vec<usize>, bool), Failure> {
        let mut subdirs = Vec::new();
        for entry in bytes.chunks_exact(ENTRY) {
            w.step(cx)?;
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                w.mark(
                    cx.at,
                    format!("fat image with more than {MAX_ENTRIES} directory entries"),
                );
                return Err(Failure::Stopped);
            }
            let attributes = entry[11];
            let dot = entry[0] == b'.';
            let is_dir = attributes & 0x10 != 0 && attributes != 0x0f;
            if entry[0] == 0 {
                return Ok((subdirs, true));
            }
            if entry[0] == 0xe5 || attributes == 0x0f || dot {
                continue;
            }
            let high = if self.layout.bits == 32 {
                usize::from(le16(entry, 20).unwrap_or(0)) << 16
            } else {
                0
            };
            let cluster = high | usize::from(le16(entry, 26).unwrap_or(0));
            if is_dir {
                subdirs.push(cluster);
            } else if le32(entry, 28).unwrap_or(0) > 0
                && attributes & 0x08 == 0
                && !self.layout.is_cluster(cluster)
            {
                return Err(Failure::corrupt(
                    "fat",
                    format!("a file starts at cluster {cluster}, outside the data area"),
                ));
            }
        }
        Ok((subdirs, false))
    }
}
