//! `quarantd inspect FILE.eml [--json]`: the same analysis `serve` runs, for one file.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use quarantd_core::{Envelope, Part, PartPath, Scanned, Verdict};
use quarantd_pipeline::{Pipeline, Stages};
use quarantd_release::store::StoredPart;

use crate::cli::InspectArgs;

/// Runs the analysis and prints the result on standard output.
pub fn main(args: InspectArgs) -> anyhow::Result<()> {
    let source = args.config.as_ref().map_or_else(
        || "embedded defaults".to_string(),
        |p| p.display().to_string(),
    );
    let mut raw_config = quarantd_config::load(args.config.as_deref())?;
    if let Some(clamd) = &args.clamd {
        raw_config.scan.clamd.address = clamd.clone();
    }
    let settings = raw_config.validate(&source)?;
    let raw = read_input(&args.file)?;
    let mut stages = Stages::standard(settings.mime_limits.clone(), Arc::clone(&settings.policy));
    if !args.no_scan {
        if let Some((stage, _)) = settings.scan.stage() {
            stages = stages.with_scanner(Box::new(stage));
        }
    }
    let pipeline = Pipeline::new(settings.pipeline.clone(), stages);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let envelope = local_envelope();
    let raw = Arc::new(raw);
    let (mut scanned, verdict) = match runtime.block_on(pipeline.analyse(&envelope, raw.clone())) {
        Ok(result) => result,
        Err(err) => (
            Scanned::default(),
            tempfail(&format!("{:#}", anyhow::Error::new(err))),
        ),
    };
    // A timed-out analysis thread must not keep `inspect` from answering.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    // Decomposition leaves the message's own hash to whoever shows or stores it.
    if let Some(root) = scanned.classified.parts.first_mut() {
        if root.part.sha256.is_empty() {
            root.part.sha256 = quarantd_mime::sha256_hex(&raw);
        }
    }
    let out = if args.json {
        render_json(&scanned, &verdict)
    } else {
        render_tree(&scanned, &verdict)
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("cannot write to standard output")
}

fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut raw)
            .context("cannot read the message from standard input")?;
    } else {
        raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(raw)
}

fn tempfail(reason: &str) -> Verdict {
    Verdict {
        action: quarantd_core::Action::Tempfail,
        reasons: vec![reason.to_string()],
    }
}

/// An envelope for a message read from a file: no SMTP peer.
fn local_envelope() -> Envelope {
    Envelope {
        id: quarantd_core::id::new_id(),
        peer: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        helo: "localhost".into(),
        mail_from: String::new(),
        mail_params: Default::default(),
        recipients: Vec::new(),
        xforward: Default::default(),
        received_at: SystemTime::now(),
    }
}

/// The JSON form: `{"action", "reasons", "parts": [...]}`.
pub fn render_json(scanned: &Scanned, verdict: &Verdict) -> String {
    // The store's encoder of a part: the same fields as `quarantine show --json`.
    let parts: Vec<StoredPart> = scanned
        .classified
        .parts
        .iter()
        .map(|p| StoredPart::from(&p.part))
        .collect();
    let mut value = serde_json::json!({
        "action": verdict.action,
        "reasons": verdict.reasons,
        "parts": parts,
    });
    if !scanned.findings.is_empty() {
        value["findings"] = serde_json::to_value(&scanned.findings).unwrap_or_default();
    }
    format!("{value}\n")
}

/// The human form: an indented tree, then the verdict.
pub fn render_tree(scanned: &Scanned, verdict: &Verdict) -> String {
    let mut out = String::new();
    let depths = PartPath::depths(scanned.classified.parts.iter().map(|d| &d.part.path));
    for (data, depth) in scanned.classified.parts.iter().zip(depths) {
        out.push_str(&tree_line(&data.part, depth));
        out.push('\n');
    }
    for finding in &scanned.findings {
        let place = finding
            .part
            .as_ref()
            .map_or_else(|| "message".to_string(), |p| p.to_string());
        out.push_str(&format!(
            "finding: {} {} ({}) in {}\n",
            finding.kind, finding.name, finding.engine, place
        ));
    }
    out.push_str(&format!("verdict: {}\n", verdict.header_value()));
    out
}

fn tree_line(part: &Part, depth: usize) -> String {
    let indent = "  ".repeat(depth);
    let kind = part
        .detected_type
        .as_deref()
        .or(part.declared_type.as_deref())
        .unwrap_or("-");
    let mut line = format!("{indent}{} {kind} {} bytes", part.path, part.size);
    if let Some(name) = &part.filename {
        line.push_str(&format!(" {name:?}"));
    }
    if !part.labels.is_empty() {
        let labels: Vec<&str> = part.labels.iter().map(|l| l.as_str()).collect();
        line.push_str(&format!(" [{}]", labels.join(", ")));
    }
    if let Some(reason) = &part.unscannable_reason {
        line.push_str(&format!(" ({reason})"));
    }
    line
}
