//! The human-readable derivation, three ways: `derivation()` (text, what the SymPy
//! notebooks print, with the user's names), `derivation_latex()` (the same lines as an
//! aligned LaTeX block) and `graph_dot()` (the dependency DAG of those lines); plus the
//! short formulas in the generated methods' rustdoc.
//!
//! One source of truth: [`Derivation::new`] decides *what* is printed — which nodes get
//! a name (user bindings, `t0, t1, ...` for common subexpressions and deep nodes,
//! `δ1, δ2, ...` for the backward tensors, `L`), in which order, and which line defines
//! which name — as a list of steps. Each renderer replays those steps through the one
//! expression [`Printer`], which knows the [`Style`] only for spelling atoms.
//!
//! ```text
//! Derivation::new ─▶ steps ─replay(Style::Text)──▶ text()  (derivation())
//!                          │                    ├─▶ dot::render  (graph_dot())
//!                          │                    └─▶ docs()  (rustdoc formulas)
//!                          └─replay(Style::Latex)─▶ latex::render (derivation_latex())
//! ```

pub mod dot;
mod latex;
mod printer;

use std::fmt::Write;

use crate::graph::{Graph, Node, NodeId};
use crate::lower::Lowered;
use crate::tensor::{LeafKind, TensorOp};

pub use printer::{Printer, Style};

/// What a node is called (each [`Style`] spells it its own way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// A user's name: a declaration or one of its elements (`w13`, `x`,
    /// `h1.weight[3][0]`) or a forward binding (`f3`, `h[2]`, `z_2`).
    User(String),
    /// A common subexpression or a deep node: `t3`.
    Temp(usize),
    /// A tensor of the backward pass: `δ2`.
    Delta(usize),
    /// The loss: `L`.
    Loss,
}

/// The sections of a derivation, in the order they are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// The user's bindings, in evaluation order.
    Forward,
    /// `L = ...`.
    Loss,
    /// Common subexpressions (and deep nodes named to keep printing shallow).
    Table,
    /// The backward tensors `δ1, δ2, ...` (tensor tier only).
    Adjoints,
    /// One `dL/dθ` per parameter (per group for groups read as whole tensors).
    Gradient,
}

/// The left-hand side of a line.
#[derive(Clone, Debug)]
pub enum Lhs {
    /// A name being defined (or aliased).
    Name(Name),
    /// `dL/d<parameter or group>`.
    Grad(String),
}

/// One line `lhs = rhs` of the derivation.
#[derive(Clone, Debug)]
pub struct Line {
    /// Where it is printed.
    pub section: Section,
    /// The left-hand side.
    pub lhs: Lhs,
    /// The node printed on the right.
    pub id: NodeId,
    /// Print `id`'s definition even though it may have a name already (a definition
    /// line), rather than its name (an alias or a gradient).
    pub define: bool,
    /// A remark after the formula.
    pub note: Option<Note>,
    /// The node this line gives a name to, if any.
    pub defines: Option<NodeId>,
}

/// A remark after a formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// A parameter read both one by one and as part of a whole group: its line is
    /// only the scalar part of its gradient.
    PlusGroupTerm,
}

/// One step of the replay.
#[derive(Clone, Debug)]
enum Step {
    /// Call the node by this name from now on.
    Name(NodeId, Name),
    /// Print line `k` of [`Derivation::lines`] with the names given so far.
    Line(usize),
}

/// A line as printed in one style.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// Where it is printed.
    pub section: Section,
    /// The left-hand side.
    pub lhs: String,
    /// The right-hand side.
    pub rhs: String,
    /// Text after the formula (already in the style).
    pub note: Option<String>,
    /// The named nodes the right-hand side reads, in order, without repeats.
    pub refs: Vec<NodeId>,
    /// The node this line gives a name to, if any.
    pub defines: Option<NodeId>,
}

/// What the derivation of one network prints, decided once for every renderer.
pub struct Derivation<'a> {
    name: String,
    program: &'a Lowered,
    lines: Vec<Line>,
    steps: Vec<Step>,
    /// The nodes the loss depends on (the forward pass).
    forward: Vec<bool>,
    /// Which nodes have a name by the end of the steps planned so far.
    named: Vec<bool>,
}

impl<'a> Derivation<'a> {
    /// Plans the derivation of `program` (the network called `name`) whose parameter
    /// gradients are `grads` (one per parameter) and `group_grads` (`(group index,
    /// tensor adjoint)` for the groups read as whole tensors).
    ///
    /// Tensor nodes print as matrix formulas, as the notebooks write them: `W · x`,
    /// `Wᵀ · δ2`, `δ1 · xᵀ`, `⊙` for elementwise products; the adjoints of tensor nodes
    /// are named `δ1, δ2, ...` and listed with their definitions.
    pub fn new(
        name: &str,
        program: &'a Lowered,
        grads: &[NodeId],
        group_grads: &[(usize, NodeId)],
    ) -> Derivation<'a> {
        let g = &program.graph;
        let mut plan = Derivation {
            name: name.to_string(),
            program,
            lines: Vec::new(),
            steps: Vec::new(),
            forward: g.reachable(&[program.loss]),
            named: vec![false; g.len()],
        };
        let element_names = |slots: &[crate::resolved::Slot]| -> Vec<String> {
            slots
                .iter()
                .flat_map(|s| (0..s.shape.len()).map(move |i| s.element_name(i)))
                .collect()
        };
        let (inputs, targets, params) = (
            element_names(&program.inputs),
            element_names(&program.targets),
            element_names(&program.params),
        );
        for (id, node) in g.iter() {
            let name = match node {
                Node::Input(k) => inputs.get(k as usize),
                Node::Target(k) => targets.get(k as usize),
                Node::Param(k) => params.get(k as usize),
                _ => None,
            };
            if let Some(name) = name {
                plan.give(id, Name::User(name.clone()));
            }
            // A declared group read as a whole is called by its name.
            if let Some(slot) = leaf_slot(program, id) {
                plan.give(id, Name::User(slot.name.clone()));
            }
        }

        // Expressions nested deeper than this get a temporary name, so printing (which
        // recurses) stays shallow even for a 1000-term sum.
        const MAX_DEPTH: usize = 24;
        let mut depth = vec![0usize; g.len()];
        let mut forced: Vec<Option<usize>> = vec![None; g.len()];
        // One counter for every `tN` name (deep nodes here, common subexpressions below),
        // so no two definitions share a name.
        let mut n_temps = 0;
        for (id, node) in g.iter() {
            if node.is_leaf() {
                continue;
            }
            let d = 1 + node.children().map(|c| depth[c.index()]).max().unwrap_or(0);
            if d > MAX_DEPTH {
                forced[id.index()] = Some(n_temps);
                plan.give(id, Name::Temp(n_temps));
                n_temps += 1;
                depth[id.index()] = 0;
            } else {
                depth[id.index()] = d;
            }
        }

        for (binding, id) in &program.bindings {
            let lhs = Lhs::Name(Name::User(binding.clone()));
            if plan.named[id.index()] {
                // The same value under a second name (hash-consing found it equal).
                plan.line(Section::Forward, lhs, *id, false, None);
                continue;
            }
            plan.line(Section::Forward, lhs, *id, true, Some(*id));
            plan.give(*id, Name::User(binding.clone()));
        }
        // Common subexpressions of the loss and gradient: non-trivial nodes used more than
        // once that have no user name. Named before the loss is printed so it uses them too.
        let mut roots = vec![program.loss];
        roots.extend(grads);
        roots.extend(group_grads.iter().map(|&(_, adj)| adj));
        let live = g.reachable(&roots);
        let mut uses = vec![0usize; g.len()];
        for (id, _) in g.iter() {
            if live[id.index()] {
                for c in g.children(id) {
                    uses[c.index()] += 1;
                }
            }
        }
        for &r in &roots {
            uses[r.index()] += 1;
        }
        let mut n_deltas = 0;
        for (id, node) in g.iter() {
            if let Some(n) = forced[id.index()] {
                // A deep node, named above so that printing stays shallow: defined here.
                plan.line(Section::Table, Lhs::Name(Name::Temp(n)), id, true, Some(id));
                continue;
            }
            let trivial = node.is_leaf()
                || matches!(node, Node::StopGradient(_) | Node::Neg(_))
                || is_indicator(g, node);
            if !live[id.index()] || trivial || plan.named[id.index()] {
                continue;
            }
            // Tensors of the backward pass are always named: they are the δ's.
            let adjoint = g.is_tensor(id) && !plan.forward[id.index()];
            if adjoint {
                n_deltas += 1;
                let name = Name::Delta(n_deltas);
                plan.line(
                    Section::Adjoints,
                    Lhs::Name(name.clone()),
                    id,
                    true,
                    Some(id),
                );
                plan.give(id, name);
            } else if uses[id.index()] >= 2 {
                let name = Name::Temp(n_temps);
                n_temps += 1;
                plan.line(Section::Table, Lhs::Name(name.clone()), id, true, Some(id));
                plan.give(id, name);
            }
        }
        let loss = program.loss;
        let loss_named = plan.named[loss.index()];
        plan.line(
            Section::Loss,
            Lhs::Name(Name::Loss),
            loss,
            !loss_named,
            (!loss_named).then_some(loss),
        );
        if !loss_named {
            plan.give(loss, Name::Loss);
        }
        let mut whole = vec![false; program.num_params()];
        for &(group, adjoint) in group_grads {
            let slot = &program.params[group];
            whole[slot.offset..slot.offset + slot.shape.len()].fill(true);
            plan.line(
                Section::Gradient,
                Lhs::Grad(slot.name.clone()),
                adjoint,
                false,
                None,
            );
        }
        for (k, (name, &grad)) in params.iter().zip(grads).enumerate() {
            let zero = g.as_const(grad) == Some(0.0);
            if whole[k] && zero {
                continue;
            }
            plan.line(
                Section::Gradient,
                Lhs::Grad(name.clone()),
                grad,
                false,
                None,
            )
            .note = whole[k].then_some(Note::PlusGroupTerm);
        }
        plan
    }

    /// Plans a line (printed with the names given before it).
    fn line(
        &mut self,
        section: Section,
        lhs: Lhs,
        id: NodeId,
        define: bool,
        defines: Option<NodeId>,
    ) -> &mut Line {
        self.steps.push(Step::Line(self.lines.len()));
        self.lines.push(Line {
            section,
            lhs,
            id,
            define,
            note: None,
            defines,
        });
        self.lines.last_mut().expect("just pushed")
    }

    /// Calls `id` by `name` from this step on.
    fn give(&mut self, id: NodeId, name: Name) {
        self.named[id.index()] = true;
        self.steps.push(Step::Name(id, name));
    }

    /// The network's name.
    pub fn network_name(&self) -> &str {
        &self.name
    }

    /// The planned lines, in planning order (see [`Derivation::render`] for the
    /// printed order).
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Whether the loss depends on `id` (it is part of the forward pass).
    pub fn is_forward(&self, id: NodeId) -> bool {
        self.forward[id.index()]
    }

    /// The program.
    pub fn program(&self) -> &'a Lowered {
        self.program
    }

    /// Every line printed in `style`, in printed order (by [`Section`], then planning
    /// order).
    pub fn render(&self, style: Style) -> Vec<Rendered> {
        let g = &self.program.graph;
        let temp_symbol = match style {
            Style::Latex if self.user_names().any(latex::collides_with_temps) => "\\tau",
            _ => "t",
        };
        let mut printer = Printer::new(g, style, temp_symbol);
        let mut out: Vec<Option<Rendered>> = vec![None; self.lines.len()];
        for step in &self.steps {
            match step {
                Step::Name(id, name) => printer.set_name(*id, name.clone()),
                Step::Line(k) => {
                    let line = &self.lines[*k];
                    let rhs = printer.expr(line.id, 0, line.define);
                    let mut refs = printer.take_refs();
                    let mut seen = vec![];
                    refs.retain(|r| {
                        let new = !seen.contains(r);
                        seen.push(*r);
                        new
                    });
                    let lhs = match (&line.lhs, style) {
                        (Lhs::Name(name), _) => printer.spell(name),
                        (Lhs::Grad(name), Style::Text) => format!("dL/d{name}"),
                        (Lhs::Grad(name), Style::Latex) => {
                            format!("\\frac{{\\partial L}}{{\\partial {}}}", latex::name(name))
                        }
                    };
                    let note = line.note.map(|Note::PlusGroupTerm| match style {
                        Style::Text => String::from(" (plus its group's term)"),
                        Style::Latex => String::from("\\quad\\text{(plus its group's term)}"),
                    });
                    out[*k] = Some(Rendered {
                        section: line.section,
                        lhs,
                        rhs,
                        note,
                        refs,
                        defines: line.defines,
                    });
                }
            }
        }
        let mut out: Vec<Rendered> = out.into_iter().flatten().collect();
        // (A stable sort: planning order within a section.)
        out.sort_by_key(|r| r.section);
        out
    }

    /// Every user name the derivation prints.
    fn user_names(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            Step::Name(_, Name::User(n)) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The text of `derivation()`: a header, then the sections.
    pub fn text(&self) -> String {
        self.text_of(&self.render(Style::Text))
    }

    /// [`Derivation::text`] from the already rendered text lines.
    fn text_of(&self, lines: &[Rendered]) -> String {
        let program = self.program;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "network {}: {}, {}, {}, {}",
            self.name,
            count(program.num_params(), "param"),
            count(program.num_inputs(), "input"),
            count(program.num_targets(), "target"),
            count(program.output.elems.len(), "output")
        );
        for (section, title) in [
            (Section::Forward, "forward:"),
            (Section::Loss, "loss:"),
            (Section::Table, "common subexpressions:"),
            (
                Section::Adjoints,
                "adjoints (tensors of the backward pass):",
            ),
            (Section::Gradient, "gradient:"),
        ] {
            let mut lines = lines.iter().filter(|r| r.section == section).peekable();
            // (`forward:` and `gradient:` are printed even when empty.)
            if lines.peek().is_none() && matches!(section, Section::Table | Section::Adjoints) {
                continue;
            }
            let _ = writeln!(out, "\n{title}");
            for r in lines {
                let note = r.note.as_deref().unwrap_or("");
                let _ = writeln!(out, "  {} = {}{note}", r.lhs, r.rhs);
            }
        }
        out
    }

    /// The aligned LaTeX block of `derivation_latex()`.
    pub fn latex(&self) -> String {
        latex::render(&self.render(Style::Latex))
    }

    /// The Graphviz DOT text of `graph_dot()`.
    pub fn dot(&self) -> String {
        dot::render(self, &self.render(Style::Text))
    }

    /// The formulas shown in the generated methods' rustdoc.
    pub fn docs(&self) -> Docs {
        docs(&self.name, &self.render(Style::Text))
    }

    /// Everything the generated code embeds — `(text, LaTeX, DOT, rustdoc formulas)` —
    /// rendering the text lines once.
    pub fn all(&self) -> (String, String, String, Docs) {
        let text = self.render(Style::Text);
        (
            self.text_of(&text),
            self.latex(),
            dot::render(self, &text),
            docs(&self.name, &text),
        )
    }
}

/// The parameter/input/target group a tensor leaf node reads whole, if it is one.
fn leaf_slot(program: &Lowered, id: NodeId) -> Option<&crate::resolved::Slot> {
    let Some(TensorOp::Leaf { kind, offset }) = program.graph.tensor_node(id).map(|t| &t.op) else {
        return None;
    };
    let slots = match kind {
        LeafKind::Input => &program.inputs,
        LeafKind::Target => &program.targets,
        LeafKind::Param => &program.params,
    };
    slots.iter().find(|s| s.offset == *offset as usize)
}

/// Whether `node` is an indicator `[k == j]` of leaves (a class-index target against a
/// constant): short enough to print in place rather than as a common subexpression.
fn is_indicator(g: &Graph, node: Node) -> bool {
    matches!(node, Node::IfEq(a, b, t, e)
        if [a, b].iter().all(|&x| g.node(x).is_leaf())
            && g.as_const(t) == Some(1.0)
            && g.as_const(e) == Some(0.0))
}

/// `1 param`, `7 params`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

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

fn docs(name: &str, lines: &[Rendered]) -> Docs {
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

#[cfg(test)]
mod tests {
    use super::{dot, latex, DOC_LINES, DOC_LINE_CHARS};
    fn derivation(body: proc_macro2::TokenStream) -> String {
        derived(body).derivation
    }

    #[test]
    fn like_terms_are_collected_and_common_factors_pulled_out() {
        let d = derivation(quote::quote! {
            struct N { input x; param a, b; output y = (x * a + b) + (x * a + b) - b; loss = y * 1.0; }
        });
        assert!(d.contains("  y = b + 2*x*a"), "{d}");
        let d = derivation(quote::quote! {
            struct N { input x; param a; let s = sigmoid(a * x); output y = 1.0 - s; loss = y; }
        });
        assert!(d.contains("  y = 1 - s"), "{d}");
    }

    /// Deep expressions (a 10-class log-softmax) get `tN` names so printing stays
    /// shallow; every such name is defined once and every name used is defined.
    #[test]
    fn every_temporary_is_defined_exactly_once() {
        let d = derivation(quote::quote! {
            struct N { input x[3]; target t[10]; output y = dense(x, 10, identity); loss = cross_entropy(y, t); }
        });
        let mut defined = std::collections::HashSet::new();
        for line in d.lines() {
            if let Some((name, _)) = line.trim().split_once(" = ") {
                if name.starts_with('t') && name[1..].chars().all(|c| c.is_ascii_digit()) {
                    assert!(
                        defined.insert(name.to_string()),
                        "{name} defined twice in\n{d}"
                    );
                }
            }
        }
        let words = d.split(|c: char| !c.is_ascii_alphanumeric());
        for word in words.filter(|w| w.len() > 1 && w.starts_with('t')) {
            if word[1..].chars().all(|c| c.is_ascii_digit()) {
                assert!(
                    defined.contains(word),
                    "{word} used but not defined in\n{d}"
                );
            }
        }
        assert!(defined.len() > 10, "the deep log-softmax is named: {d}");
    }

    #[test]
    fn seed_003_reads_like_the_textbook() {
        let d = seed_003().derivation;
        for line in [
            "f3 = sigmoid(2*w0 + x1*w13 + x2*w23)",
            "= f5 - y",
            "dL/dw0 = 2*(",
            "dL/dw35 = f3*t",
        ] {
            assert!(d.contains(line), "missing {line:?} in\n{d}");
        }
    }

    fn derived(body: proc_macro2::TokenStream) -> crate::emit::Derived {
        crate::derive(body)
            .map(|(_, d)| d)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn seed_003() -> crate::emit::Derived {
        derived(quote::quote! {
            struct Seed003 {
                input x1, x2; target y;
                param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
                let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
                let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
                output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
                loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
            }
        })
    }

    fn mnist() -> crate::emit::Derived {
        derived(quote::quote! {
            struct Mnist {
                type Float = f32;
                input x[784]; target k;
                let h = dense(x, 128, relu);
                output z = dense(h, 10, identity);
                loss = sparse_cross_entropy(z, k);
            }
        })
    }

    /// The `lhs = rhs` lines of the text derivation (indented, below a heading).
    fn text_lines(d: &str) -> Vec<(&str, &str)> {
        d.lines()
            .filter(|l| l.starts_with("  "))
            .filter_map(|l| l.trim().split_once(" = "))
            .collect()
    }

    /// The `lhs &= rhs` rows of an aligned LaTeX block.
    fn latex_rows(latex: &str) -> Vec<(String, String)> {
        let body = latex
            .trim()
            .strip_prefix("\\begin{aligned}")
            .and_then(|b| b.strip_suffix("\\end{aligned}"))
            .unwrap_or_else(|| panic!("not an aligned block:\n{latex}"));
        // One row per line, ended by `\\` (or `\\[6pt]` between sections).
        body.lines()
            .map(|row| {
                let row = row.trim();
                let row = row.strip_suffix("\\\\[6pt]").unwrap_or(row);
                row.strip_suffix("\\\\").unwrap_or(row).trim()
            })
            .filter(|row| !row.is_empty())
            .map(|row| {
                let (lhs, rhs) = row
                    .split_once(" &= ")
                    .unwrap_or_else(|| panic!("row without `&=`: {row}"));
                (lhs.to_string(), rhs.to_string())
            })
            .collect()
    }

    /// Braces balance and every `\left` has its `\right`.
    fn assert_balanced(latex: &str) {
        let mut depth = 0i64;
        for c in latex.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "unbalanced braces in\n{latex}");
        }
        assert_eq!(depth, 0, "unbalanced braces in\n{latex}");
        assert_eq!(
            latex.matches("\\left").count(),
            latex.matches("\\right").count(),
            "\\left without \\right in\n{latex}"
        );
    }

    /// The LaTeX has one row per line of the text derivation, in the same order, with
    /// each name spelt the LaTeX way; seed 003's `dL/dw35 = f3*t2` is
    /// `\frac{\partial L}{\partial w_{35}} &= f_{3} t_{2}`, the sigmoid is `\sigma`.
    #[test]
    fn latex_mirrors_the_text_derivation_line_by_line() {
        let d = seed_003();
        let text = text_lines(&d.derivation);
        let rows = latex_rows(&d.derivation_latex);
        assert_balanced(&d.derivation_latex);
        assert_eq!(
            text.len(),
            rows.len(),
            "{}\n{}",
            d.derivation,
            d.derivation_latex
        );
        for ((lhs, rhs), (latex_lhs, latex_rhs)) in text.iter().zip(&rows) {
            assert!(!latex::name(lhs.trim_start_matches("dL/d")).is_empty());
            if let Some(param) = lhs.strip_prefix("dL/d") {
                assert_eq!(
                    latex_lhs,
                    &format!("\\frac{{\\partial L}}{{\\partial {}}}", latex::name(param))
                );
            }
            // The same names, in the same order: `f3*t2` reads f3 then t2.
            let words = |s: &str| -> Vec<String> {
                s.split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
                    .filter(|w| !["sigmoid", "softplus", "ln", "exp"].contains(w))
                    .map(latex::name)
                    .collect()
            };
            let spelt: Vec<String> = words(rhs);
            let mut rest = latex_rhs.as_str();
            for name in &spelt {
                let at = rest.find(name.as_str()).unwrap_or_else(|| {
                    panic!("{name} (from `{rhs}`) not in order in `{latex_rhs}`")
                });
                rest = &rest[at + name.len()..];
            }
        }
        let w35 = rows
            .iter()
            .find(|(lhs, _)| lhs.contains("w_{35}"))
            .expect("a row for w35");
        let (_, text_w35) = text
            .iter()
            .find(|(l, _)| *l == "dL/dw35")
            .expect("text row");
        assert_eq!(text_w35, &"f3*t2", "{}", d.derivation);
        assert_eq!(w35.1, "f_{3} t_{2}", "juxtaposition for the product");
        assert!(rows[0].1.starts_with("\\sigma\\left("), "{:?}", rows[0]);
    }

    /// A target called `t` would read like the temporaries `t_{k}`: they become `\tau_{k}`.
    #[test]
    fn latex_temporaries_avoid_user_names() {
        let d = derived(quote::quote! {
            struct N { input x[2]; target t[1]; let h = dense(x, 2, tanh); output y = dense(h, 1, sigmoid); loss = bce(y, t); }
        });
        assert!(d.derivation.contains("t0 = "), "{}", d.derivation);
        assert!(
            d.derivation_latex.contains("\\tau_{0} &= "),
            "{}",
            d.derivation_latex
        );
        assert!(
            d.derivation_latex.contains("t_{0}"),
            "the target element stays t_0"
        );
        assert!(
            !d.derivation_latex.contains("t_{0} &="),
            "{}",
            d.derivation_latex
        );
    }

    /// 784-128-10: matrix formulas keep the LaTeX to a few dozen rows, and the tensor
    /// tier's notation is there: `W^{(h)} x`, `{W^{(z)}}^{\top} \delta_k`, `\delta_k x^{\top}`,
    /// `\odot`.
    #[test]
    fn mnist_latex_is_a_few_dozen_matrix_formulas() {
        let d = mnist();
        let rows = latex_rows(&d.derivation_latex);
        assert_balanced(&d.derivation_latex);
        assert!(rows.len() < 80, "{} rows", rows.len());
        assert_eq!(rows.len(), text_lines(&d.derivation).len());
        let latex = &d.derivation_latex;
        assert!(
            latex.contains("\\operatorname{relu}\\left(W^{(h)} x + b^{(h)}\\right)"),
            "{latex}"
        );
        assert!(latex.contains("{W^{(z)}}^{\\top} \\delta_{"), "{latex}");
        assert!(latex.contains(" x^{\\top}"), "{latex}");
        assert!(latex.contains("\\odot"), "{latex}");
        assert!(
            latex.contains("\\frac{\\partial L}{\\partial W^{(h)}}"),
            "{latex}"
        );
        assert!(latex.len() < 20_000, "{} bytes", latex.len());
    }

    /// Every `t_{k}` / `\delta_{k}` the LaTeX reads is defined by an earlier row or
    /// later in the table (like the text's temporaries).
    #[test]
    fn every_latex_temporary_is_defined_once() {
        for d in [seed_003(), mnist()] {
            let rows = latex_rows(&d.derivation_latex);
            let defined: Vec<&str> = rows
                .iter()
                .map(|(l, _)| l.as_str())
                .filter(|l| l.starts_with("t_{") || l.starts_with("\\delta_{"))
                .collect();
            let mut unique = defined.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), defined.len(), "a temporary defined twice");
            for (_, rhs) in &rows {
                for (at, _) in rhs
                    .match_indices("t_{")
                    .chain(rhs.match_indices("\\delta_{"))
                {
                    let end = at + rhs[at..].find('}').expect("closing brace") + 1;
                    let name = &rhs[at..end];
                    let name = name.trim_start_matches("\\left(");
                    // (`\left(t_{..}` is a user element, not a temporary, only if it
                    // indexes further; the seeds and MNIST have none.)
                    assert!(defined.contains(&name), "{name} used, not defined");
                }
            }
        }
    }

    /// The DOT graph: every edge joins declared nodes, every node class appears for seed
    /// 003, each parameter and each gradient is a node, and backward edges are dashed.
    #[test]
    fn dot_has_the_node_classes_and_only_declared_endpoints() {
        let d = seed_003();
        let dot = &d.graph_dot;
        assert!(dot.starts_with("digraph \"Seed003\" {") && dot.trim_end().ends_with('}'));
        let mut declared = std::collections::BTreeMap::new();
        let mut edges = Vec::new();
        for line in dot.lines().map(str::trim) {
            if let Some((from, rest)) = line.split_once(" -> ") {
                let to = rest.split([' ', ';']).next().unwrap_or("");
                edges.push((from.to_string(), to.to_string(), line.contains("dashed")));
            } else if let Some((id, attrs)) = line.split_once(" [label=") {
                declared.insert(id.to_string(), attrs.to_string());
            }
        }
        for (from, to, _) in &edges {
            assert!(
                declared.contains_key(from) && declared.contains_key(to),
                "{from} -> {to}"
            );
        }
        let nodes: Vec<&String> = declared
            .iter()
            .filter(|(id, _)| !id.starts_with("legend_"))
            .map(|(_, attrs)| attrs)
            .collect();
        for (class, color) in [
            ("input", "#cfe2ff"),
            ("target", "#ffe8a3"),
            ("parameter", "#c8f0c0"),
            ("forward value", "#eeeeee"),
            ("loss", "#ffd36e"),
            ("adjoint", "#fcd5d5"),
            ("gradient", "#f4a3a3"),
        ] {
            assert!(
                nodes.iter().any(|a| a.contains(color)),
                "no {class} node in\n{dot}"
            );
        }
        for name in ["w0", "w13", "w14", "w23", "w24", "w35", "w45"] {
            assert!(
                nodes.iter().any(|a| a.starts_with(&format!("\"{name}\""))),
                "{name}"
            );
            assert!(
                nodes
                    .iter()
                    .any(|a| a.starts_with(&format!("\"dL/d{name} =\\n"))),
                "dL/d{name}"
            );
        }
        // Edges into the backward pass are dashed, the forward pass's are not.
        let gradient_ids: Vec<&String> = declared
            .iter()
            .filter(|(_, a)| a.contains("#f4a3a3") || a.contains("#fcd5d5"))
            .map(|(id, _)| id)
            .collect();
        for (_, to, dashed) in edges.iter().filter(|(f, _, _)| !f.starts_with("legend_")) {
            assert_eq!(gradient_ids.contains(&to), *dashed, "edge into {to}");
        }
        // The loss reads the forward values only: one edge per name it reads.
        assert!(edges.len() > 30, "{} edges", edges.len());
    }

    /// Large scalar networks are cut down to the cap, and say so; MNIST (tensor tier)
    /// stays whole and small.
    #[test]
    fn dot_size_is_capped() {
        let count = |dot: &str| {
            dot.lines()
                .filter(|l| l.contains(" [label=") && !l.trim().starts_with("legend_"))
                .count()
        };
        let edges = |dot: &str| dot.lines().filter(|l| l.contains(" -> n")).count();
        let m = mnist();
        assert!(count(&m.graph_dot) < 80, "{}", m.graph_dot);
        assert!(!m.graph_dot.contains("omitted"), "MNIST is drawn whole");
        // 8-16-16-16-1 unrolled: hundreds of scalar temporaries and edges, so the
        // common subexpressions are contracted.
        let big = derived(quote::quote! {
            #[symnn(tensor_threshold = 100000)]
            struct Big {
                input x[8]; target t[1];
                let a = dense(x, 16, tanh);
                let b = dense(a, 16, tanh);
                let c = dense(b, 16, tanh);
                output y = dense(c, 1, identity);
                loss = mse(y, t);
            }
        });
        assert!(
            big.derivation.lines().count() > dot::MAX_NODES,
            "the test needs a big graph"
        );
        let dot = &big.graph_dot;
        assert!(count(dot) <= dot::MAX_NODES && edges(dot) <= dot::MAX_EDGES);
        assert!(
            !dot.contains("\"t0 =\\n"),
            "the temporaries are contracted: {dot}"
        );
        // Declarations and bindings are one node each: `a[0]`..`a[15]` is `a`.
        assert!(dot.contains("(+15 more)"), "{dot}");
        assert!(dot.contains("\"a.weight\\n[16×8]\""), "{dot}");
        assert!(dot.contains("\"dL/da.weight[0][0] =\\n"), "{dot}");
        // The input still reaches the output, through the contracted temporaries.
        assert!(dot.contains(" -> n"), "{dot}");

        // 200 separate parameters: 400 nodes even without temporaries; whole classes
        // are merged until it fits, and a note says so.
        let names: Vec<String> = (0..200).map(|k| format!("p{k}")).collect();
        let body: proc_macro2::TokenStream = format!(
            "struct Wide {{ input x; param {}; output y = {}; loss = y * y; }}",
            names.join(", "),
            names
                .iter()
                .map(|p| format!("{p} * x"))
                .collect::<Vec<_>>()
                .join(" + ")
        )
        .parse()
        .expect("tokens");
        let wide = derived(body);
        let dot = &wide.graph_dot;
        assert!(count(dot) <= dot::MAX_NODES + 1, "{dot}");
        assert!(
            dot.contains("\"200 parameters\\n(p0, p1, p2, …)\""),
            "{dot}"
        );
        assert!(dot.contains("200 parameters drawn as one node"), "{dot}");
        // The loss and the output are never merged away, and the merged parameters
        // still feed the output.
        assert!(dot.contains(" [label=\"L\", shape=doublecircle"), "{dot}");
        assert!(dot.contains(" [label=\"y =\\n"), "{dot}");
        assert!(edges(dot) >= 3, "{dot}");
    }

    /// The rustdoc formulas: seed 003 shows everything (each gradient line, with the
    /// definitions it reads); MNIST is shortened and points to `derivation()`.
    #[test]
    fn rustdoc_formulas_are_complete_when_short_and_capped_when_long() {
        let d = seed_003();
        for name in ["w0", "w13", "w14", "w23", "w24", "w35", "w45"] {
            let line = d
                .derivation
                .lines()
                .find(|l| l.trim().starts_with(&format!("dL/d{name} = ")))
                .expect("a gradient line");
            assert!(d.docs.gradient.contains(line.trim()), "{line}");
        }
        // What the gradient lines read is defined above them: t2, t3, t4, f3, f4.
        for def in ["t2 = ", "t3 = ", "t4 = ", "f3 = ", "f4 = "] {
            assert!(
                d.docs.gradient.contains(def),
                "{def} in\n{}",
                d.docs.gradient
            );
        }
        assert!(!d.docs.gradient.contains("Shortened"));
        assert!(d.docs.loss.contains("\nL = ") && d.docs.loss.contains("\nt1 = "));
        assert!(d.docs.forward.contains("f5 = sigmoid("));
        assert!(d.docs.gradient.starts_with("```text\n") && d.docs.gradient.ends_with("```"));

        let m = mnist();
        let block_lines = |doc: &str| doc.lines().filter(|l| !l.starts_with("```")).count();
        assert!(
            m.docs.gradient.contains("dL/dh.weight = δ"),
            "{}",
            m.docs.gradient
        );
        assert!(m.docs.gradient.contains("Mnist::derivation()"));
        for doc in [&m.docs.forward, &m.docs.loss, &m.docs.gradient] {
            assert!(block_lines(doc) <= DOC_LINES + 3, "{doc}");
            assert!(doc.lines().all(|l| l.chars().count() <= DOC_LINE_CHARS));
        }
    }
}
