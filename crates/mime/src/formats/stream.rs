//! Single compressed streams: gzip, bzip2, xz, zstd. The one member is named from the
//! gzip header, or from the container's name without its compression suffix.

use crate::detect::Kind;
use crate::formats::cstr;
use crate::formats::{Container, Failure, Member, Sink};

pub(crate) fn open(
    w: &mut impl Sink,
    cx: &Container,
    kind: Kind,
    data: &[u8],
) -> Result<(), Failure> {
    let cap = w.cap(data.len() as u64);
    let out = match kind {
        Kind::Gzip => quarantd_cap::gunzip(data, &cap),
        Kind::Bzip2 => quarantd_cap::bunzip2(data, &cap),
        Kind::Xz => quarantd_cap::unxz(data, &cap),
        _ => quarantd_cap::unzstd(data, &cap, 0),
    };
    let out = w.charge(out);
    if out.bytes.is_empty() {
        if let Some(error) = out.error {
            return Err(Failure::corrupt(kind.name(), error));
        }
    }
    let name = gzip_name(kind, data).unwrap_or_else(|| member_name(&cx.base.0, kind));
    w.member(cx, Member::unpacked(name, out))
}

/// The original file name from a gzip header (`FNAME`).
fn gzip_name(kind: Kind, data: &[u8]) -> Option<String> {
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    if kind != Kind::Gzip {
        return None;
    }
    let flags = *data.get(3)?;
    if flags & FNAME == 0 {
        return None;
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        at += 2 + crate::formats::le16(data, 10)? as usize;
    }
    let (name, _) = cstr(data, at)?;
    let name = crate::formats::latin1(name);
    (!name.is_empty()).then_some(name)
}

/// `a.tar.gz` → `a.tar`, `a.tgz` → `a.tar`, anything else → `content`.
fn member_name(base: &str, kind: Kind) -> String {
    let last = base.rsplit('/').next().unwrap_or("");
    let lower = last.to_ascii_lowercase();
    let suffixes: &[(&str, &str)] = match kind {
        Kind::Gzip => &[(".tgz", ".tar"), (".gz", ""), (".z", "")],
        Kind::Bzip2 => &[(".tbz2", ".tar"), (".tbz", ".tar"), (".bz2", "")],
        Kind::Xz => &[(".txz", ".tar"), (".xz", "")],
        _ => &[(".tzst", ".tar"), (".zst", "")],
    };
    for (suffix, replace) in suffixes {
        if lower.ends_with(suffix) && lower.len() > suffix.len() {
            return format!("{}{replace}", &last[..last.len() - suffix.len()]);
        }
    }
    "content".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_suffix() {
        assert_eq!(member_name("2/x.tgz", Kind::Gzip), "x.tar");
        assert_eq!(member_name("2/a.exe.xz", Kind::Xz), "a.exe");
        assert_eq!(member_name("2", Kind::Bzip2), "content");
    }
}
