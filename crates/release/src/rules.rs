//! How many distinct approvals a release needs, and whether a recipient may release alone.
//! Issue 6 fills these from the policy per reason; the defaults are the ones below.

use std::collections::{BTreeMap, BTreeSet};

use quarantd_store::reason_key;

/// The reason a recipient can never release alone, whatever the settings say.
pub const VIRUS: &str = "virus";

/// Release rules per verdict reason key (`virus`, `executable`, `vba-macro`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Approvals by distinct people needed, per reason key.
    pub approvals: BTreeMap<String, u32>,
    /// For reasons not in `approvals` (at least 1 is always needed).
    pub default_approvals: u32,
    /// Reason keys for which a recipient's own request releases their copy without a
    /// postmaster. Never effective for `virus`. Default: none.
    pub self_release: BTreeSet<String>,
}

impl Default for Rules {
    /// `virus` and `executable` need 2 approvals, everything else 1; no self-release.
    fn default() -> Self {
        Rules {
            approvals: [(VIRUS.to_string(), 2), ("executable".to_string(), 2)]
                .into_iter()
                .collect(),
            default_approvals: 1,
            self_release: BTreeSet::new(),
        }
    }
}

impl Rules {
    /// Approvals a message with these verdict reasons needs: the most any reason needs,
    /// never fewer than 1.
    pub fn approvals_needed(&self, reasons: &[String]) -> u32 {
        reasons
            .iter()
            .map(|r| {
                let key = reason_key(r).to_lowercase();
                self.approvals
                    .get(&key)
                    .copied()
                    .unwrap_or(self.default_approvals)
            })
            .max()
            .unwrap_or(self.default_approvals)
            .max(1)
    }

    /// Whether a recipient's request alone releases their copy: only when every reason
    /// allows it, and never for a virus.
    pub fn recipient_may_release(&self, reasons: &[String]) -> bool {
        !reasons.is_empty()
            && reasons.iter().all(|r| {
                let key = reason_key(r).to_lowercase();
                key != VIRUS && self.self_release.contains(&key)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn approvals_per_reason_table() {
        let rules = Rules::default();
        let cases: &[(&[&str], u32)] = &[
            (&["virus:Eicar-Test-Signature"], 2),
            (&["executable"], 2),
            (&["vba-macro"], 1),
            (&["vba-macro", "executable"], 2),
            (&["Virus:X"], 2),
            (&[], 1),
        ];
        for (reasons, needed) in cases {
            assert_eq!(rules.approvals_needed(&r(reasons)), *needed, "{reasons:?}");
        }
        let zero = Rules {
            default_approvals: 0,
            ..Rules::default()
        };
        assert_eq!(
            zero.approvals_needed(&r(&["spam"])),
            1,
            "never fewer than one"
        );
    }

    #[test]
    fn a_recipient_never_releases_a_virus_alone() {
        let mut rules = Rules::default();
        assert!(
            !rules.recipient_may_release(&r(&["spam"])),
            "off by default"
        );
        rules.self_release = ["spam", "virus", "vba-macro"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(rules.recipient_may_release(&r(&["spam"])));
        assert!(rules.recipient_may_release(&r(&["spam", "vba-macro"])));
        assert!(!rules.recipient_may_release(&r(&["virus:Eicar"])));
        assert!(!rules.recipient_may_release(&r(&["spam", "virus:Eicar"])));
        assert!(!rules.recipient_may_release(&r(&["spam", "executable"])));
        assert!(!rules.recipient_may_release(&[]));
    }
}
