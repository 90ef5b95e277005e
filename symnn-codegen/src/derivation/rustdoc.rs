//! The formulas in the generated methods' rustdoc ([`Docs`]): for each method, the
//! derivation lines it reads (the closure of its section's lines over name
//! references), at most [`DOC_LINES`] lines when the derivation is longer, each line
//! whole (wrapped at [`DOC_LINE_CHARS`] characters), every name it reads defined in the
//! same block.

use std::fmt::Write;

use super::{Rendered, Section};

/// At most this many formula lines go into one method's rustdoc when its derivation is
/// longer: its gradient lines (and the δ's and forward definitions if they fit), each
/// with every line it reads, and a pointer to `derivation()`. When not even one
/// gradient line fits with what it reads, the block grows to that one line's closure
/// and a third of this more (up to [`DOC_LINES_MAX`]).
pub const DOC_LINES: usize = 24;

/// The most formula lines one method's rustdoc shows to keep one line self-contained
/// (MNIST's 10-class softmax behind `δ1` needs about 50). Beyond it the block shows
/// its first lines anyway and names the lines of `derivation()` that define what they
/// read.
pub const DOC_LINES_MAX: usize = 96;

/// Formula lines in rustdoc longer than this many characters are wrapped (before a
/// `+`, `-`, `·` or `⊙`, or after a comma), continuation lines indented.
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

/// Lines of `candidates` (in priority order), each taken together with every line it
/// reads (directly or not) while the total stays within `limit`: a self-contained
/// selection, in printed order.
fn self_contained(
    lines: &[Rendered],
    candidates: impl Iterator<Item = usize>,
    limit: usize,
) -> Vec<usize> {
    let mut chosen = vec![false; lines.len()];
    let mut count = 0;
    for k in candidates {
        if chosen[k] {
            continue;
        }
        let needed: Vec<usize> = closure(lines, std::iter::once(k))
            .iter()
            .enumerate()
            .filter(|&(j, &c)| c && !chosen[j])
            .map(|(j, _)| j)
            .collect();
        if count + needed.len() <= limit {
            count += needed.len();
            for j in needed {
                chosen[j] = true;
            }
        }
    }
    (0..lines.len()).filter(|&k| chosen[k]).collect()
}

/// The names that the `chosen` lines read and no chosen line defines (those defined by
/// some other line), in printed order.
fn undefined_names(lines: &[Rendered], chosen: &[usize]) -> Vec<String> {
    let defined: std::collections::HashSet<_> =
        chosen.iter().filter_map(|&k| lines[k].defines).collect();
    let mut missing: Vec<usize> = chosen
        .iter()
        .flat_map(|&k| lines[k].refs.iter())
        .filter(|id| !defined.contains(*id))
        .filter_map(|id| lines.iter().position(|r| r.defines == Some(*id)))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing.into_iter().map(|k| lines[k].lhs.clone()).collect()
}

/// The rustdoc formulas of the network `name`, from its text lines (printed order).
pub(super) fn docs(name: &str, lines: &[Rendered]) -> Docs {
    let in_section = |s: Section| {
        let lines = lines.iter().enumerate();
        lines.filter(move |(_, r)| r.section == s).map(|(k, _)| k)
    };
    let block = |keep: &[bool], fallback: &[Section]| -> String {
        let all: Vec<usize> = (0..lines.len()).filter(|&k| keep[k]).collect();
        let total = all.len();
        // Too long: whole lines of the most telling sections first, each with every
        // line it reads, as many as fit, so every name shown is defined.
        let in_order = || {
            fallback.iter().flat_map(|&section| {
                all.iter()
                    .copied()
                    .filter(move |&k| lines[k].section == section)
            })
        };
        // The first line of the most telling section fits with all it reads, even when
        // that is longer than `DOC_LINES` (a 10-class softmax's scalar lines behind
        // `δ1`), up to `DOC_LINES_MAX`.
        let first = in_order().next().map_or(0, |k| {
            closure(lines, std::iter::once(k))
                .iter()
                .filter(|&&c| c)
                .count()
        });
        let limit = if first > DOC_LINES {
            (first + DOC_LINES / 3).min(DOC_LINES_MAX)
        } else {
            DOC_LINES
        };
        let mut chosen = if total > DOC_LINES {
            self_contained(lines, in_order(), limit)
        } else {
            all.clone()
        };
        // Not even that (a huge unrolled network's per-element lines): show the first
        // lines anyway, and name what they read that only `derivation()` defines.
        if !chosen.iter().any(|&k| lines[k].section == fallback[0]) {
            chosen = in_order().take(DOC_LINES).collect();
            chosen.sort_unstable();
        }
        let undefined = undefined_names(lines, &chosen);
        let cut = chosen.len() < total;
        let mut text = String::from("```text\n");
        for &k in &chosen {
            let r = &lines[k];
            let note = r.note.as_deref().unwrap_or("");
            let line = format!("{} = {}{note}", r.lhs, r.rhs);
            for part in wrap(&line, DOC_LINE_CHARS) {
                let _ = writeln!(text, "{part}");
            }
        }
        if cut {
            let more = total - chosen.len();
            if undefined.is_empty() {
                let _ = writeln!(text, "… ({more} more lines)");
            } else {
                let _ = writeln!(
                    text,
                    "… ({more} more lines, defining {})",
                    undefined.join(", ")
                );
            }
        }
        text.push_str("```");
        if cut {
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

/// Indentation of a wrapped line's continuation lines.
pub(super) const CONTINUATION: &str = "    ";

/// `line` as lines of at most `width` characters where it can be broken: before ` + `,
/// ` - `, ` · `, ` ⊙ `, after `, `, else at a space; the continuation lines are indented.
/// A piece with nowhere to break stays whole.
pub(super) fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.to_string();
    let mut prefix = "";
    loop {
        let chars: Vec<(usize, char)> = rest.char_indices().collect();
        if prefix.chars().count() + chars.len() <= width {
            out.push(format!("{prefix}{rest}"));
            return out;
        }
        // The byte offsets where a break may go, as (break before, priority).
        let room = width.saturating_sub(prefix.chars().count());
        let limit = chars.get(room).map_or(rest.len(), |&(b, _)| b);
        let head = &rest[..limit];
        let operator = [" + ", " - ", " · ", " ⊙ "]
            .iter()
            .filter_map(|op| head.rfind(op))
            .chain(head.rfind(", ").map(|at| at + 1))
            .filter(|&at| at > 0)
            .max();
        let Some(at) = operator.or_else(|| head.rfind(' ').filter(|&at| at > 0)) else {
            out.push(format!("{prefix}{rest}"));
            return out;
        };
        out.push(format!("{prefix}{}", rest[..at].trim_end()));
        rest = rest[at..].trim_start().to_string();
        prefix = CONTINUATION;
    }
}
