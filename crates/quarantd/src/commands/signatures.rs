//! `quarantd signatures add|list|remove`: quarantd's own ClamAV signatures.
//!
//! The files are changed atomically in the signature directory (holding its lock), then clamd
//! gets `RELOAD`; the command waits until clamd detects a fresh canary and, for a new
//! signature, its sample (the file itself, or a zip holding a member name the regex matches)
//! under the new name, and only then records the new generation that running daemons watch
//! (`quarantd_scan::generation`). When clamd does not confirm, the change is undone and the
//! command fails; without any clamd the files are written with a warning.

use std::path::PathBuf;

use anyhow::{bail, Context};
use quarantd_scan::clamd::{Clamd, ClamdAddr, ClamdConfig};
use quarantd_scan::signatures::{
    publish, Change, OwnSignature, Published, Sample, SignatureDir, SignatureKind,
};

use crate::cli::{SignaturesAddArgs, SignaturesArgs, SignaturesCommand};

/// Runs one `signatures` command.
pub fn main(args: SignaturesArgs) -> anyhow::Result<()> {
    let target = Target::from_args(&args)?;
    match &args.command {
        SignaturesCommand::List => list(&target),
        SignaturesCommand::Add(add_args) => {
            let (signature, sample) = signature_from(add_args, args.config.as_deref())?;
            let change = target.dir.add(&signature)?;
            target
                .publish(change, sample.as_ref())
                .with_context(|| format!("{} was not added", signature.name))?;
            println!(
                "added {} ({}) to {}",
                signature.name,
                describe(&signature.kind),
                target.dir.path().display()
            );
            Ok(())
        }
        SignaturesCommand::Remove { name } => {
            let change = target.dir.remove(name)?;
            let removed = change.signature().clone();
            target
                .publish(change, None)
                .with_context(|| format!("{name} was not removed"))?;
            println!("removed {} ({})", removed.name, describe(&removed.kind));
            Ok(())
        }
    }
}

/// Where the signatures go and which clamd loads them.
struct Target {
    dir: SignatureDir,
    clamd: Option<Clamd>,
    wait: std::time::Duration,
}

impl Target {
    fn from_args(args: &SignaturesArgs) -> anyhow::Result<Target> {
        let raw = quarantd_config::load(args.config.as_deref())?;
        if let Some(path) = &args.config {
            raw.reading_errors(&path.display().to_string())?;
        }
        let dir: PathBuf = match &args.signature_dir {
            Some(dir) => dir.clone(),
            None if !raw.scan.signature_dir.as_os_str().is_empty() => raw.scan.signature_dir.clone(),
            None => bail!("no signature directory: give --signature-dir DIR or set scan.signature_dir in the config file"),
        };
        if !dir.is_dir() {
            bail!("the signature directory {} does not exist", dir.display());
        }
        let address = args
            .clamd
            .clone()
            .unwrap_or_else(|| raw.scan.clamd.address.clone());
        let clamd = if address.is_empty() {
            None
        } else {
            let addr: ClamdAddr = address.parse().context("--clamd")?;
            Some(Clamd::new(ClamdConfig::new(addr)))
        };
        Ok(Target {
            dir: SignatureDir::new(dir),
            clamd,
            wait: std::time::Duration::from_secs(raw.scan.reload_wait_secs.max(1)),
        })
    }

    /// RELOAD, wait for clamd to load the change and detect `sample`, record the generation;
    /// or undo the change and fail.
    fn publish(&self, change: Change<'_>, sample: Option<&Sample>) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let published =
            runtime.block_on(publish(change, sample, self.clamd.as_ref(), self.wait))?;
        report(&published, sample);
        Ok(())
    }
}

fn report(published: &Published, sample: Option<&Sample>) {
    match &published.warning {
        None => {
            if let Some(sample) = sample {
                println!("clamd detects {}", sample.describe());
            }
            println!(
                "clamd reloaded and detects the change (generation {})",
                published.generation
            );
        }
        Some(warning) => eprintln!("quarantd: warning: {warning}"),
    }
}

/// The signature to add and the sample it must detect (none for a bare hash).
fn signature_from(
    args: &SignaturesAddArgs,
    config: Option<&std::path::Path>,
) -> anyhow::Result<(OwnSignature, Option<Sample>)> {
    if let (Some(id), Some(path)) = (&args.from_quarantine, &args.part) {
        let content =
            super::fetch_part(config, args.store.as_deref(), args.by.as_deref(), id, path)?;
        if content.is_empty() {
            bail!("part {path} of {id} is empty; an empty file cannot be a signature");
        }
        let signature = OwnSignature::of_file(&args.name, &content)?;
        return Ok((signature, Some(Sample::File(content))));
    }
    if let Some(file) = &args.file {
        let content =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        if content.is_empty() {
            bail!(
                "{} is empty; an empty file cannot be a signature",
                file.display()
            );
        }
        let signature = OwnSignature::of_file(&args.name, &content)?;
        return Ok((signature, Some(Sample::File(content))));
    }
    if let (Some(sha256), Some(size)) = (&args.sha256, args.size) {
        if size == 0 {
            bail!("--size must be greater than 0");
        }
        return Ok((OwnSignature::of_hash(&args.name, sha256, size)?, None));
    }
    if let Some(regex) = &args.archive_member_name {
        let signature = OwnSignature::of_member_name(&args.name, regex)?;
        let sample = Sample::for_member_regex(regex, args.sample_name.as_deref())?;
        return Ok((signature, Some(sample)));
    }
    bail!("give a FILE, --sha256 HEX --size N, or --archive-member-name REGEX")
}

fn list(target: &Target) -> anyhow::Result<()> {
    for signature in target.dir.list()? {
        println!("{}\t{}", signature.name, describe(&signature.kind));
    }
    Ok(())
}

fn describe(kind: &SignatureKind) -> String {
    match kind {
        SignatureKind::Hash { sha256, size } => format!("sha256 {sha256} size {size}"),
        SignatureKind::ArchiveMember { regex } => format!("archive member name {regex}"),
    }
}
