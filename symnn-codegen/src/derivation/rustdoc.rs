//! The formulas in the generated methods' rustdoc ([`Docs`]): for each method, the
//! derivation lines it reads (the closure of its section's lines over name
//! references), capped at [`DOC_LINES`] lines of at most [`DOC_LINE_CHARS`] characters.

use std::fmt::Write;

use super::{Rendered, Section};

/// At most this many formula lines go into one method's rustdoc; a longer derivation
/// shows its gradient lines (and the δ's and forward definitions if they fit) and
/// points to `derivation()`.
pub const DOC_LINES: usize = 24;

/// Formula lines in rustdoc longer than this many characters are cut with `…`.
pub const DOC_LINE_CHARS: usize = 160;

/// The formulas of the generated methods' rustdoc, each a Markdown paragraph (a
/// ```` ```text ```` block, so no lint reads the formulas as prose).
#[derive(Clone, Debug, Default)]
pub struct Docs {
    /// For `forward`: the forward definitions.
    pub forward: String,
    /// For `loss` and `loss_and_output`: the loss and what it reads.
    pub loss: String,
    /// For the gradient methods (`gradient`, `sgd_step`, ...): one line per `dL/dθ`
    /// and what they read.
    pub gradient: String,
}

/// The lines of `lines` (printed order) that `roots` read, directly or not.
fn closure(lines: &[Rendered], roots: impl Iterator<Item = usize>) -> Vec<bool> {
    let mut definer = std::collections::HashMap::new();
    for (k, r) in lines.iter().enumerate() {
        if let Some(id) = r.defines {
            definer.insert(id, k);
        }
    }
    let mut keep = vec![false; lines.len()];
    let mut stack: Vec<usize> = roots.collect();
    while let Some(k) = stack.pop() {
        if std::mem::replace(&mut keep[k], true) {
            continue;
        }
        stack.extend(
            lines[k]
                .refs
                .iter()
                .filter_map(|id| definer.get(id).copied()),
        );
    }
    keep
}

/// The rustdoc formulas of the network `name`, from its text lines (printed order).
pub(super) fn docs(name: &str, lines: &[Rendered]) -> Docs {
    let in_section = |s: Section| {
        let lines = lines.iter().enumerate();
        lines.filter(move |(_, r)| r.section == s).map(|(k, _)| k)
    };
    let block = |keep: &[bool], fallback: &[Section]| -> String {
        let mut chosen: Vec<usize> = (0..lines.len()).filter(|&k| keep[k]).collect();
        let mut cut = false;
        if chosen.len() > DOC_LINES {
            // Too long: the most telling sections first, as many as fit.
            cut = true;
            let mut fit: Vec<usize> = Vec::new();
            for &section in fallback {
                let more: Vec<usize> = chosen
                    .iter()
                    .copied()
                    .filter(|&k| lines[k].section == section)
                    .collect();
                if fit.is_empty() || fit.len() + more.len() <= DOC_LINES {
                    fit.extend(more);
                }
            }
            fit.sort_unstable();
            chosen = fit;
        }
        let total = chosen.len();
        chosen.truncate(DOC_LINES);
        let mut text = String::from("```text\n");
        for &k in &chosen {
            let r = &lines[k];
            let note = r.note.as_deref().unwrap_or("");
            let mut line = format!("{} = {}{note}", r.lhs, r.rhs);
            if line.chars().count() > DOC_LINE_CHARS {
                line = line.chars().take(DOC_LINE_CHARS - 1).collect::<String>() + "…";
            }
            let _ = writeln!(text, "{line}");
        }
        if total > chosen.len() {
            let _ = writeln!(text, "… ({} more lines)", total - chosen.len());
        }
        text.push_str("```");
        if cut || total > chosen.len() {
            let _ = write!(
                text,
                "\n\nShortened; the whole derivation is `{name}::derivation()`."
            );
        }
        text
    };
    let forward = closure(lines, in_section(Section::Forward));
    let loss = closure(lines, in_section(Section::Loss));
    let gradient = closure(lines, in_section(Section::Gradient));
    Docs {
        forward: block(&forward, &[Section::Forward]),
        loss: block(&loss, &[Section::Loss, Section::Forward]),
        gradient: block(
            &gradient,
            &[Section::Gradient, Section::Adjoints, Section::Forward],
        ),
    }
}
