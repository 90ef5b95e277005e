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
//!                          │                    └─▶ docs()  (rustdoc formulas, rustdoc.rs)
//!                          └─replay(Style::Latex)─▶ latex::render (derivation_latex())
//! ```

pub mod dot;
mod latex;
mod printer;
mod rustdoc;

use std::fmt::Write;

use crate::graph::{Graph, Node, NodeId};
use crate::lower::Lowered;
use crate::tensor::{LeafKind, TensorOp};

pub use printer::{Printer, Style};
pub use rustdoc::{Docs, DOC_LINES, DOC_LINES_MAX, DOC_LINE_CHARS};

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
        // Expressions that would print longer than this many nodes get one too: a tensor
        // node prints its operands inline, and a map's kernel prints an argument once
        // per use of its lane, so an unrolled RK4 integrator (each stage reading the
        // state and the stage before) printed in 4^steps nodes without it.
        const MAX_PRINTED: u64 = 2_000;
        let mut depth = vec![0usize; g.len()];
        let mut printed = vec![1u64; g.len()];
        let mut forced: Vec<Option<usize>> = vec![None; g.len()];
        // One counter for every `tN` name (deep nodes here, common subexpressions below),
        // so no two definitions share a name.
        let mut n_temps = 0;
        for (id, node) in g.iter() {
            if node.is_leaf() {
                continue;
            }
            let d = 1 + node.children().map(|c| depth[c.index()]).max().unwrap_or(0);
            let size = printed_size(g, id, &printed);
            printed[id.index()] = size;
            if d > MAX_DEPTH || size > MAX_PRINTED {
                printed[id.index()] = 1;
                forced[id.index()] = Some(n_temps);
                plan.give(id, Name::Temp(n_temps));
                n_temps += 1;
                depth[id.index()] = 0;
            } else {
                depth[id.index()] = d;
            }
        }

        // Bindings that neither the output nor the loss reads are not printed (an
        // element of a reassigned vector that the last version no longer needs, ...).
        let mut used_roots = vec![program.loss];
        used_roots.extend(&program.output.elems);
        let used = g.reachable(&used_roots);
        for (binding, id) in &program.bindings {
            if !used[id.index()] {
                continue;
            }
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
        // A stop-gradient prints as its operand, so the operand is used where it is
        // (the max shift of a softmax, read by every logit).
        for id in (0..g.len()).rev().map(NodeId::from_index) {
            if let Node::StopGradient(a) = g.node(id) {
                uses[a.index()] += uses[id.index()].saturating_sub(1);
            }
        }
        let mut n_deltas = 0;
        for (id, node) in g.iter() {
            if let Some(n) = forced[id.index()] {
                // A deep node, named above so that printing stays shallow: defined here.
                plan.line(Section::Table, Lhs::Name(Name::Temp(n)), id, true, Some(id));
                continue;
            }
            // (An element of a named tensor prints in place: `y[0]`, not `t0 = y[0]`.)
            let trivial = node.is_leaf()
                || matches!(node, Node::StopGradient(_) | Node::Neg(_))
                || matches!(node, Node::Elem(t, _) if plan.named[t.index()])
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
        printer.set_vars(self.program.var_names.clone());
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
        rustdoc::docs(&self.name, &self.render(Style::Text))
    }

    /// Everything the generated code embeds — `(text, LaTeX, DOT, rustdoc formulas)` —
    /// rendering the text lines once.
    pub fn all(&self) -> (String, String, String, Docs) {
        let text = self.render(Style::Text);
        (
            self.text_of(&text),
            self.latex(),
            dot::render(self, &text),
            rustdoc::docs(&self.name, &text),
        )
    }
}

/// Everything [`Derivation::all`] gives, for the matrix view of `program` (the network
/// called `name`): lowered again with every `dense` layer and large product as a
/// tensor node ([`crate::lower::lower_matrix_view`]), differentiated, and planned from
/// that graph. The generated code reads neither graph nor gradient.
pub fn matrix_view(
    name: &str,
    program: &crate::resolved::Program,
) -> (String, String, String, Docs) {
    let mut view = crate::lower::lower_matrix_view(program);
    let gradient = crate::diff::loss_gradient(&mut view.graph, view.loss, &view.params);
    Derivation::new(name, &view, &gradient.grads, &gradient.group_grads).all()
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

#[cfg(test)]
mod tests;
#[cfg(test)]
mod view_tests;

/// The derivation text of each loop emitted as a Rust loop ([`crate::lower::Rolled`]),
/// appended to `derivation()`: one iteration written once, as a person writes
/// backpropagation through time. Its forward lines compute the next state from the
/// previous one (`zₖ₋₁`) and the iteration's reads (`x[k]`); its "loss" is
/// `Σ δzₖ · z`, the adjoint the iteration receives from the next, so its `dL/dθ`
/// lines are one iteration's share of the gradient, summed over `k` by the reverse
/// loop.
pub fn rolled_loops(
    name: &str,
    program: &Lowered,
    gradient: &crate::bptt::RolledGradient,
) -> String {
    let mut out = String::new();
    for (rolled, step) in program.rolled.iter().zip(&gradient.steps) {
        let state_names: Vec<&str> = rolled.state.iter().map(|(n, _)| n.as_str()).collect();
        let (output_name, shape) = match rolled.state.as_slice() {
            [(n, shape)] => (n.clone(), *shape),
            _ => (
                state_names.join(", "),
                crate::shape::Shape::Vector(rolled.state_len),
            ),
        };
        // The state's adjoint recurrence (`δzₖ₋₁ = ...`) prints as the gradient with
        // respect to the previous state, listed after the parameters: with
        // L = Σ δzₖ·z, dL/dzₖ₋₁ is exactly δzₖ₋₁.
        let mut params = program.params.clone();
        let mut grads = step.params.grads.clone();
        let mut offset = program.num_params();
        for (name, shape) in &rolled.state {
            params.push(crate::resolved::Slot {
                name: format!("{name}ₖ₋₁"),
                shape: *shape,
                offset,
                init: None,
            });
            grads.extend(&step.vars[offset - program.num_params()..][..shape.len()]);
            offset += shape.len();
        }
        let iteration = Lowered {
            graph: rolled.body.clone(),
            float: program.float,
            inputs: program.inputs.clone(),
            targets: program.targets.clone(),
            params,
            output_name,
            output: crate::lower::Tensor {
                shape,
                elems: rolled.next_state.clone(),
            },
            loss: step.product,
            bindings: rolled.body_names.clone(),
            has_diff: false,
            matrix_view_differs: false,
            rolled: Vec::new(),
            var_names: rolled.body_var_names.clone(),
        };
        let text = Derivation::new(name, &iteration, &grads, &step.params.group_grads).text();
        let var = rolled.var_name.as_deref().unwrap_or("_");
        let end = rolled.start + i64::try_from(rolled.count).unwrap_or(i64::MAX);
        let _ = writeln!(
            out,
            "\nfor {var} in {}..{end} (a Rust loop: one iteration, then backpropagation through time; \
             `ₖ₋₁` is the previous iteration's value, L = Σ δ{}ₖ·{} is the adjoint the next iteration hands back, \
             each dL/dθ below is summed over the iterations, and dL/d{}ₖ₋₁ is the adjoint handed to the previous one):",
            rolled.start,
            state_names.first().copied().unwrap_or("s"),
            state_names.first().copied().unwrap_or("s"),
            state_names.first().copied().unwrap_or("s"),
        );
        for line in text.lines().skip(1) {
            // (A named vector of the previous state, defined by its own elements.)
            let self_defined = line
                .trim_start()
                .split_once(" = [")
                .is_some_and(|(name, rhs)| rhs.starts_with(&format!("{name}[0]")));
            if self_defined {
                continue;
            }
            if line.is_empty() {
                let _ = writeln!(out);
            } else {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}

/// How many nodes printing `id` inline writes, its operands at `printed` each: a map
/// writes an argument once per use of its lane in the kernel.
fn printed_size(g: &Graph, id: NodeId, printed: &[u64]) -> u64 {
    let operands = g.children(id);
    let lane_uses = |j: usize| -> u64 {
        match g.tensor_node(id).map(|t| &t.op) {
            Some(crate::tensor::TensorOp::Map { kernel, .. }) => g
                .kernel_nodes(*kernel)
                .iter()
                .map(|&n| {
                    let uses = g
                        .node(n)
                        .children()
                        .filter(|&c| g.node(c) == Node::Lane(j as u32));
                    uses.count() as u64
                })
                .sum::<u64>()
                .max(1),
            _ => 1,
        }
    };
    operands
        .iter()
        .enumerate()
        .map(|(j, c)| printed[c.index()].saturating_mul(lane_uses(j)))
        .fold(1, u64::saturating_add)
}
